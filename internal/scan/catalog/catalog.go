// Package catalog lists what an image holds: its operating system (from
// os-release) and its packages (dpkg, including distroless status.d, apk,
// rpm, and the modules of Go binaries), reading the layers bottom-up as a
// stream with bounded memory and applying whiteouts, so a package removed
// in a later layer is not listed. Only the few files that matter are kept
// (package databases under a size cap; a Go binary and an rpm database
// are spooled to a temporary file and reduced to their packages as they
// pass). For Red Hat images it also keeps each layer's build information
// (content sets), which Red Hat's advisories are matched through.
package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Version of the cataloguer: stored with each package list, so lists made
// by an older one can be made again (2: rpm packages carry their
// modularity label, the layer that first installed them and the Red Hat
// build information of that layer).
const Version = 2

// Limits on what one image may make the cataloguer hold or read.
const (
	MaxDBFile   = 64 << 20 // one package database or os-release
	MaxBinary   = 1 << 30  // a Go binary read for its build information
	MaxEntries  = 2_000_000
	MaxUnpacked = 64 << 30 // bytes of one layer, unpacked (gzip bomb guard)
)

// Package types.
const (
	TypeDeb      = "deb"
	TypeAPK      = "apk"
	TypeRPM      = "rpm"
	TypeGoBinary = "gobinary"
)

// OS is the image's operating system.
type OS struct {
	ID        string `json:"id"`         // debian, ubuntu, alpine, …
	VersionID string `json:"version_id"` // 12, 22.04, 3.19.1
}

// Package is one installed package.
type Package struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	SrcName    string `json:"src_name,omitempty"`
	SrcVersion string `json:"src_version,omitempty"`
	Arch       string `json:"arch,omitempty"`
	Layer      string `json:"layer"` // digest of the layer that installed it
	Path       string `json:"path"`  // the database or binary it was read from
	// Modularitylabel is an rpm's module stream
	// ("nodejs:12:8030020201124152102:229f0a1c"): Red Hat's advisories
	// for modular packages are filed under "nodejs:12::<name>".
	Modularitylabel string `json:"modularity_label,omitempty"`
	// BuildInfoRef is, for an rpm package, which of Result.BuildInfos
	// is the Red Hat build information of the layer that installed it
	// (as Trivy's applier chooses it), counted from 1; 0: none. An index,
	// not a copy per package, so that a stored list stays small.
	BuildInfoRef int `json:"build_info_ref,omitempty"`
}

// Result is an image's catalogue.
type Result struct {
	OS       OS        `json:"os"`
	Packages []Package `json:"packages"`
	// BuildInfos are the Red Hat build informations packages refer to.
	BuildInfos []BuildInfo `json:"build_infos,omitempty"`
	// Notes says what was seen but not catalogued (a binary over the
	// size limit).
	Notes []string `json:"notes,omitempty"`
}

// Layer is one layer to read, bottom first.
type Layer struct {
	Digest string
	Open   func(context.Context) (io.ReadCloser, error)
}

// BuildInfoOf returns the Red Hat build information of p (nil if none).
func (r *Result) BuildInfoOf(p Package) *BuildInfo {
	if p.BuildInfoRef < 1 || p.BuildInfoRef > len(r.BuildInfos) {
		return nil
	}
	return &r.BuildInfos[p.BuildInfoRef-1]
}

// ErrLimit is wrapped by errors of a layer over a limit.
var ErrLimit = errors.New("catalogue limit exceeded")

// entry is a kept file, by path, with the layer that wrote it.
type entry struct {
	layer string
	data  []byte    // a database or os-release
	pkgs  []Package // a Go binary's modules, read as it passed
}

// Catalogue reads layers in order and returns what the image holds.
func Catalogue(ctx context.Context, layers []Layer) (Result, error) {
	files := map[string]*entry{}
	var notes []string
	builds := make([]*BuildInfo, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		n, bi, err := readLayer(ctx, l, files)
		if err != nil {
			return Result{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		notes = append(notes, n...)
		builds[i] = bi
	}
	res := assemble(files, notes)
	attachBuildInfo(&res, layers, builds)
	return res, nil
}

// attachBuildInfo gives each rpm package the build information of the
// layer that installed it, chosen as Trivy's applier does
// (lookupBuildInfo): that layer's own; for the base layer, which Red Hat
// images ship without a content manifest, the second layer's; for a
// layer built on top of a Red Hat image, the nearest lower layer's.
func attachBuildInfo(res *Result, layers []Layer, builds []*BuildInfo) {
	index := map[string]int{}
	for i := len(layers) - 1; i >= 0; i-- {
		index[layers[i].Digest] = i // the first occurrence wins
	}
	refs := make([]int, len(builds)) // layer → BuildInfoRef, given on first use
	ref := func(layer int) int {
		if refs[layer] == 0 {
			res.BuildInfos = append(res.BuildInfos, *builds[layer])
			refs[layer] = len(res.BuildInfos)
		}
		return refs[layer]
	}
	for i := range res.Packages {
		p := &res.Packages[i]
		if p.Type != TypeRPM {
			continue
		}
		at, ok := index[p.Layer]
		if !ok {
			continue
		}
		switch {
		case builds[at] != nil:
			p.BuildInfoRef = ref(at)
		case at == 0:
			if len(builds) > 1 && builds[1] != nil {
				p.BuildInfoRef = ref(1)
			}
		default:
			for j := at - 1; j >= 0; j-- {
				if builds[j] != nil {
					p.BuildInfoRef = ref(j)
					break
				}
			}
		}
	}
}

// readLayer applies one layer to files: its whiteouts remove what lower
// layers wrote, its files replace them. It returns the layer's own Red
// Hat build information (nil if it has none).
func readLayer(ctx context.Context, l Layer, files map[string]*entry) ([]string, *BuildInfo, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	r, err := decompress(rc)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	tr := tar.NewReader(&limitedReader{r: r, n: MaxUnpacked})
	// Whiteouts and rewrites act on what lower layers wrote (files), never
	// on this layer's own files (added), so they apply as they pass.
	added := map[string]*entry{}
	var notes []string
	var build BuildInfo
	for count := 0; ; count++ {
		if count > MaxEntries {
			return nil, nil, fmt.Errorf("%w: more than %d entries", ErrLimit, MaxEntries)
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		p := clean(h.Name)
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			removeUnder(files, dir)
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			delete(files, gone)
			removeUnder(files, gone)
			continue
		}
		if h.Typeflag == tar.TypeDir {
			continue // directories merge
		}
		below := files[p]
		delete(files, p) // a file, link or device at a kept path replaces it
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case isDBFile(p):
			if h.Size > MaxDBFile {
				return nil, nil, fmt.Errorf("%w: %s is %d bytes", ErrLimit, p, h.Size)
			}
			b, err := io.ReadAll(io.LimitReader(tr, MaxDBFile))
			if err != nil {
				return nil, nil, err
			}
			added[p] = &entry{layer: l.Digest, data: b}
		case isRPMDB(p):
			pkgs, err := rpmDB(tr, h.Size, p, l.Digest)
			if err != nil {
				return nil, nil, err
			}
			if below != nil {
				keepInstallingLayer(pkgs, below.pkgs)
			}
			added[p] = &entry{layer: l.Digest, pkgs: pkgs}
		case isContentManifest(p) || isBuildDockerfile(p):
			note, err := readBuildFile(tr, h.Size, p, &build)
			if err != nil {
				return nil, nil, err
			}
			if note != "" {
				notes = append(notes, note)
			}
		case h.Mode&0o111 != 0 && h.Size > 4:
			if h.Size > MaxBinary {
				notes = append(notes, fmt.Sprintf("%s not read: %d bytes", p, h.Size))
				continue
			}
			pkgs, err := goBinary(tr, p, l.Digest)
			if err != nil {
				return nil, nil, err
			}
			if pkgs != nil {
				added[p] = &entry{layer: l.Digest, pkgs: pkgs}
			}
		}
	}
	for k, e := range added {
		files[k] = e
	}
	if build.ContentSets == nil && build.NVR == "" && build.Arch == "" {
		return notes, nil, nil
	}
	return notes, &build, nil
}

// removeUnder drops the kept files under dir ("" is the root).
func removeUnder(files map[string]*entry, dir string) {
	for k := range files {
		if dir == "" || strings.HasPrefix(k, dir+"/") {
			delete(files, k)
		}
	}
}

// clean makes a tar name a relative slash path without "./".
func clean(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

func isDBFile(p string) bool {
	switch p {
	case "etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status", "lib/apk/db/installed":
		return true
	}
	if dir, base := path.Split(p); dir == "var/lib/dpkg/status.d/" && !strings.HasSuffix(base, ".md5sums") {
		return true
	}
	return false
}

func isRPMDB(p string) bool {
	switch p {
	case "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "var/lib/rpm/rpmdb.sqlite",
		"usr/lib/sysimage/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite":
		return true
	}
	return false
}

// decompress sniffs gzip and zstd magic (media types lie: Docker's
// "tar.gzip" layers, uncompressed "tar" ones); anything else is plain tar.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("%w: more than %d bytes unpacked", ErrLimit, int64(MaxUnpacked))
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// assemble parses the kept files into the result.
func assemble(files map[string]*entry, notes []string) Result {
	res := Result{Notes: notes, Packages: []Package{}}
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if e := files[p]; e != nil {
			res.OS = parseOSRelease(e.data)
			break
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := files[p]
		switch {
		case e.pkgs != nil:
			res.Packages = append(res.Packages, e.pkgs...)
		case p == "var/lib/dpkg/status" || strings.HasPrefix(p, "var/lib/dpkg/status.d/"):
			res.Packages = append(res.Packages, parseDpkg(e.data, e.layer, p)...)
		case p == "lib/apk/db/installed":
			res.Packages = append(res.Packages, parseAPK(e.data, e.layer, p)...)
		}
	}
	return res
}
