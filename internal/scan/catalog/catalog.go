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
	"slices"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Version of the cataloguer: stored with each package list, so lists made
// by an older one can be made again (2: rpm packages carry their
// modularity label, the layer that first installed them and the Red Hat
// build information of that layer; 3: gpg-pubkey entries listed, OS
// packages of third-party repositories marked, Go's stdlib version without
// its GOEXPERIMENT suffix).
const Version = 3

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
	// ThirdParty: an OS package from a third-party repository (a dpkg
	// maintainer or rpm vendor that is not the distribution's, as Trivy
	// decides it); it is listed but not matched against the OS advisories.
	ThirdParty bool `json:"third_party,omitempty"`
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
	pkgs  []Package // a Go binary's modules or an rpm database's packages, read as it passed
	rpm   bool      // pkgs are an rpm database's
}

// Catalogue reads layers in order and returns what the image holds.
func Catalogue(ctx context.Context, layers []Layer) (Result, error) {
	return CatalogueCached(ctx, layers, nil)
}

// CatalogueCached is Catalogue reading each layer once per cache: what a
// layer holds is the same in every image (it is found by digest), so an
// image built on a base the cache has seen reads only its own layers.
// cache may be nil.
func CatalogueCached(ctx context.Context, layers []Layer, cache *LayerCache) (Result, error) {
	files := map[string]*entry{}
	var notes []string
	builds := make([]*BuildInfo, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		f, ok := cache.get(l.Digest)
		if !ok {
			var err error
			if f, err = readLayer(ctx, l); err != nil {
				return Result{}, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			cache.put(l.Digest, f)
		}
		f.apply(files)
		notes = append(notes, f.notes...)
		builds[i] = f.build
	}
	res := assemble(files, notes)
	attachBuildInfo(&res, layers, builds)
	return res, nil
}

// layerFacts is what one layer does to the files the cataloguer keeps,
// whatever the layers below it: it is read once and cached by digest.
// Whiteouts and rewrites act on what lower layers wrote, never on the
// layer's own files, so their order within the layer does not matter.
type layerFacts struct {
	opaque   []string          // directories whose lower content is gone (.wh..wh..opq)
	removed  []string          // paths whited out, with what is under them
	replaced []string          // every other non-directory entry: it hides a lower file at its path
	added    map[string]*entry // the kept files it writes
	notes    []string
	build    *BuildInfo // its Red Hat build information (nil if none)
}

// apply makes files what they are above the layer. The entries are
// shared with the cache: one that must change is copied.
func (f *layerFacts) apply(files map[string]*entry) {
	for _, d := range f.opaque {
		removeUnder(files, d)
	}
	for _, p := range f.removed {
		delete(files, p)
		removeUnder(files, p)
	}
	var below map[string]*entry // the rpm databases the layer rewrites, as they were
	for p, e := range f.added {
		if e.rpm && files[p] != nil {
			if below == nil {
				below = map[string]*entry{}
			}
			below[p] = files[p]
		}
	}
	for _, p := range f.replaced {
		delete(files, p)
	}
	for p, e := range f.added {
		if below := below[p]; below != nil {
			// A rewritten rpm database: a package already installed
			// below keeps the layer that installed it.
			pkgs := slices.Clone(e.pkgs)
			keepInstallingLayer(pkgs, below.pkgs)
			e = &entry{layer: e.layer, pkgs: pkgs, rpm: true}
		}
		files[p] = e
	}
}

// size estimates the bytes f holds, for the cache's bound.
func (f *layerFacts) size() int {
	n := 256
	for _, l := range [][]string{f.opaque, f.removed, f.replaced, f.notes} {
		for _, s := range l {
			n += len(s) + 16
		}
	}
	for p, e := range f.added {
		n += len(p) + len(e.data) + 64 + len(e.pkgs)*256
	}
	if f.build != nil {
		n += 256
		for _, c := range f.build.ContentSets {
			n += len(c) + 16
		}
	}
	return n
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

// readLayer reads what one layer does (see layerFacts): its whiteouts,
// the paths it writes, the files it adds that matter, and its own Red Hat
// build information.
func readLayer(ctx context.Context, l Layer) (*layerFacts, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := decompress(rc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tr := tar.NewReader(&limitedReader{r: r, n: MaxUnpacked})
	f := &layerFacts{added: map[string]*entry{}}
	var build BuildInfo
	for count := 0; ; count++ {
		if count > MaxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrLimit, MaxEntries)
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p := clean(h.Name)
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			f.opaque = append(f.opaque, dir)
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			f.removed = append(f.removed, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		}
		if h.Typeflag == tar.TypeDir {
			continue // directories merge
		}
		// A file, link or device at a kept path replaces it; a file that
		// matters is kept instead.
		f.replaced = append(f.replaced, p)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case isDBFile(p):
			if h.Size > MaxDBFile {
				return nil, fmt.Errorf("%w: %s is %d bytes", ErrLimit, p, h.Size)
			}
			b, err := io.ReadAll(io.LimitReader(tr, MaxDBFile))
			if err != nil {
				return nil, err
			}
			f.added[p] = &entry{layer: l.Digest, data: b}
		case isRPMDB(p):
			pkgs, err := rpmDB(tr, h.Size, p, l.Digest)
			if err != nil {
				return nil, err
			}
			f.added[p] = &entry{layer: l.Digest, pkgs: pkgs, rpm: true}
		case isContentManifest(p) || isBuildDockerfile(p):
			note, err := readBuildFile(tr, h.Size, p, &build)
			if err != nil {
				return nil, err
			}
			if note != "" {
				f.notes = append(f.notes, note)
			}
		case h.Mode&0o111 != 0 && h.Size > 4:
			if h.Size > MaxBinary {
				f.notes = append(f.notes, fmt.Sprintf("%s not read: %d bytes", p, h.Size))
				continue
			}
			pkgs, err := goBinary(tr, p, l.Digest)
			if err != nil {
				return nil, err
			}
			if pkgs != nil {
				f.added[p] = &entry{layer: l.Digest, pkgs: pkgs}
			}
		}
	}
	if build.ContentSets != nil || build.NVR != "" || build.Arch != "" {
		f.build = &build
	}
	return f, nil
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
