package catalog

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"io"
	"os"
	"strings"
)

// parseOSRelease reads ID and VERSION_ID (values may be quoted).
func parseOSRelease(b []byte) OS {
	var o OS
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			o.ID = v
		case "VERSION_ID":
			o.VersionID = v
		}
	}
	return o
}

// stanzas splits RFC 822-style records separated by blank lines into
// field maps; continuation lines (leading space) are skipped, as no field
// read here spans lines.
func stanzas(b []byte, sep byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), MaxDBFile)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, string(sep))
		if ok {
			cur[k] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// parseDpkg reads a dpkg status file (or a distroless status.d entry):
// installed packages only, with their source package (the Source field,
// "name (version)" when the source version differs).
func parseDpkg(b []byte, layer, file string) []Package {
	var out []Package
	for _, st := range stanzas(b, ':') {
		name, ver := st["Package"], st["Version"]
		if name == "" || ver == "" {
			continue
		}
		// status.d entries (distroless) have no Status field.
		if s, ok := st["Status"]; ok {
			f := strings.Fields(s)
			if len(f) != 3 || f[2] != "installed" {
				continue
			}
		}
		p := Package{Type: TypeDeb, Name: name, Version: ver, SrcName: name, SrcVersion: ver, Arch: st["Architecture"], Layer: layer, Path: file,
			ThirdParty: thirdPartyDeb(st["Maintainer"])}
		if src := st["Source"]; src != "" {
			n, v, ok := strings.Cut(src, " ")
			p.SrcName = n
			if ok {
				p.SrcVersion = strings.Trim(strings.TrimSpace(v), "()")
			}
		}
		out = append(out, p)
	}
	return out
}

// parseAPK reads lib/apk/db/installed: P name, V version, A arch, o
// origin (the source package).
func parseAPK(b []byte, layer, file string) []Package {
	var out []Package
	for _, st := range stanzas(b, ':') {
		name, ver := st["P"], st["V"]
		if name == "" || ver == "" {
			continue
		}
		src := st["o"]
		if src == "" {
			src = name
		}
		out = append(out, Package{Type: TypeAPK, Name: name, Version: ver, SrcName: src, SrcVersion: ver, Arch: st["A"], Layer: layer, Path: file})
	}
	return out
}

// goBinary reads the build information of an ELF executable streamed
// from r: it is spooled to a temporary file (debug/buildinfo needs random
// access), never held in memory. Not a Go binary: nil.
func goBinary(r io.Reader, file, layer string) ([]Package, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil
	}
	if string(magic[:]) != "\x7fELF" {
		return nil, nil
	}
	tmp, err := os.CreateTemp("", "berth-catalog-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := tmp.Write(magic[:]); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tmp, io.LimitReader(r, MaxBinary)); err != nil {
		return nil, err
	}
	info, err := buildinfo.Read(tmp)
	if err != nil {
		return nil, nil // an ELF file that is not a Go binary
	}
	out := []Package{}
	if v := info.Main.Version; info.Main.Path != "" && v != "" && v != "(devel)" {
		out = append(out, Package{Type: TypeGoBinary, Name: info.Main.Path, Version: v, Layer: layer, Path: file})
	}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if d.Path == "" || d.Version == "" || d.Version == "(devel)" {
			continue
		}
		out = append(out, Package{Type: TypeGoBinary, Name: d.Path, Version: d.Version, Layer: layer, Path: file})
	}
	if v := stdlibVersion(info.GoVersion); v != "" {
		// Trivy lists the toolchain as the module "stdlib".
		out = append(out, Package{Type: TypeGoBinary, Name: "stdlib", Version: v, Layer: layer, Path: file})
	}
	return out, nil
}

// stdlibVersion is the version of the Go toolchain a binary was built
// with, as Trivy lists it: "go1.26.8-X:jsonv2" (GOEXPERIMENT, Go 1.26 on)
// and "go1.22.3 X:boringcrypto" (before) are both "v1.26.8"/"v1.22.3".
func stdlibVersion(goVersion string) string {
	v := strings.TrimPrefix(goVersion, "go")
	v, _, _ = strings.Cut(v, " X:")
	v, _, _ = strings.Cut(v, "-X:")
	if v = strings.TrimSpace(v); v == "" {
		return ""
	}
	return "v" + v
}
