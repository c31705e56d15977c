package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
)

// BuildInfo is what a Red Hat built layer says about its build (Trivy's
// types.BuildInfo): the content sets (rpm repositories) its packages came
// from, from root/buildinfo/content_manifests/*.json, and for older
// images the NVR and architecture of the image build, from the LABELs of
// root/buildinfo/Dockerfile-<name>-<version>-<release>. Red Hat's
// advisories apply to a package only through the CPEs these map to.
type BuildInfo struct {
	ContentSets []string `json:"content_sets,omitempty"`
	NVR         string   `json:"nvr,omitempty"`
	Arch        string   `json:"arch,omitempty"`
}

// Limits on build information.
const (
	MaxBuildInfoFile = 1 << 20 // a content manifest or buildinfo Dockerfile
	MaxContentSets   = 512     // content sets kept from one manifest
	maxContentSet    = 256     // bytes of one content set name
)

// isContentManifest: a JSON file directly in one of the directories
// Trivy reads content sets from (usr/share/buildinfo is RHCOS's).
func isContentManifest(p string) bool {
	dir, base := path.Split(p)
	return (dir == "root/buildinfo/content_manifests/" || dir == "usr/share/buildinfo/") && path.Ext(base) == ".json"
}

// isBuildDockerfile: root/buildinfo/Dockerfile*, as Trivy.
func isBuildDockerfile(p string) bool {
	dir, base := path.Split(p)
	return dir == "root/buildinfo/" && strings.HasPrefix(base, "Dockerfile")
}

// readBuildFile reads a content manifest or buildinfo Dockerfile of a
// layer into bi, as Trivy merges a layer's analyses: a file that names
// content sets replaces the content sets, one that names an NVR and
// architecture replaces those. A file that cannot be read is skipped
// (Trivy logs and ignores analyzer errors); a note says why.
func readBuildFile(r io.Reader, size int64, p string, bi *BuildInfo) (note string, err error) {
	if size > MaxBuildInfoFile {
		return fmt.Sprintf("%s not read: %d bytes", p, size), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxBuildInfoFile))
	if err != nil {
		return "", err
	}
	if isBuildDockerfile(p) {
		nvr, arch, ok := parseBuildDockerfile(b, path.Base(p))
		if !ok {
			return fmt.Sprintf("%s: no com.redhat.component or architecture label", p), nil
		}
		bi.NVR, bi.Arch = nvr, arch
		return "", nil
	}
	var m struct {
		ContentSets []string `json:"content_sets"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Sprintf("%s: invalid content manifest: %v", p, err), nil
	}
	var sets []string
	for _, s := range m.ContentSets {
		if len(sets) == MaxContentSets {
			note = fmt.Sprintf("%s: only the first %d content sets kept", p, MaxContentSets)
			break
		}
		if s != "" && len(s) <= maxContentSet {
			sets = append(sets, s)
		}
	}
	if len(sets) > 0 {
		bi.ContentSets = sets
	}
	return note, nil
}

// parseBuildDockerfile finds the component (LABEL com.redhat.component,
// or BZComponent in older images) and architecture (LABEL architecture)
// of a Red Hat build Dockerfile, expanding $VAR and ${VAR} from ENV and
// ARG as a Docker build would; the NVR is the component followed by the
// version and release of the file name ("Dockerfile-ubi8-8.3-227" and
// component ubi8-container give ubi8-container-8.3-227). Trivy parses it
// with BuildKit; this reads the subset Red Hat's files use.
func parseBuildDockerfile(b []byte, name string) (nvr, arch string, ok bool) {
	vars := map[string]string{}
	var component string
	for _, line := range dockerfileLines(b) {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "ARG", "ENV":
			words := shellWords(rest, vars)
			if strings.ToUpper(instr) == "ENV" && len(words) > 0 && !strings.Contains(words[0], "=") {
				// The legacy form: ENV key value with spaces.
				k, v, _ := strings.Cut(strings.TrimSpace(rest), " ")
				vars[k] = strings.Join(shellWords(strings.TrimSpace(v), vars), " ")
				continue
			}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok {
					vars[k] = v
				} else if _, set := vars[w]; !set {
					vars[w] = ""
				}
			}
		case "LABEL":
			for _, w := range shellWords(rest, vars) {
				k, v, _ := strings.Cut(w, "=")
				switch strings.ToLower(k) {
				case "com.redhat.component", "bzcomponent":
					component = v
				case "architecture":
					arch = v
				}
			}
		}
	}
	if component == "" || arch == "" {
		return "", "", false
	}
	// The version and release: the last two dash-separated fields.
	version := ""
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		version = name[strings.LastIndexByte(name[:i], '-')+1:]
	}
	return component + "-" + version, arch, true
}

// dockerfileLines joins continuation lines and drops comments and blank
// lines.
func dockerfileLines(b []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), MaxBuildInfoFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// shellWords splits s into words as the Dockerfile shell lexer does for
// LABEL, ENV and ARG: whitespace separates words, double and single
// quotes group and are removed, a backslash escapes, and $VAR or ${VAR}
// expand (not inside single quotes).
func shellWords(s string, vars map[string]string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			continue
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\' && quote != '\'' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case c == '$' && quote != '\'':
			value, n := expandVar(s[i+1:], vars)
			if n == 0 {
				w.WriteByte(c)
				break
			}
			w.WriteString(value)
			i += n
		default:
			w.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// expandVar reads the variable after a '$' ("{NAME}", "{NAME:-default}"
// or a run of letters, digits and underscores) and returns its value; n
// is the bytes consumed (0: not a variable).
func expandVar(s string, vars map[string]string) (value string, n int) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0
		}
		name, def, hasDef := strings.Cut(s[1:end], ":-")
		if v := vars[name]; v != "" || !hasDef {
			return v, end + 1
		}
		return def, end + 1
	}
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9') {
		n++
	}
	return vars[s[:n]], n
}
