package catalog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // the "sqlite" driver go-rpmdb opens rpmdb.sqlite with
)

// MaxRPMDB caps an rpm database spooled to a temporary file.
const MaxRPMDB = 1 << 30

// rpmDB reads the rpm database streamed from r (BerkeleyDB Packages,
// NDB Packages.db or rpmdb.sqlite: go-rpmdb needs a file, so it is
// spooled to a temporary one, under its own name, never held in memory).
func rpmDB(r io.Reader, size int64, file, layer string) ([]Package, error) {
	if size > MaxRPMDB {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrLimit, file, size)
	}
	dir, err := os.MkdirTemp("", "berth-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, filepath.Base(file))
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, io.LimitReader(r, MaxRPMDB))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rpm database %s: %w", file, err)
	}
	defer db.Close()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("rpm database %s: %w", file, err)
	}
	out := make([]Package, 0, len(infos))
	for _, p := range infos {
		// gpg-pubkey entries (the keys rpm trusts) are listed, as Trivy
		// lists them; matching skips them.
		v := rpmVersion(p.Epoch, p.Version, p.Release)
		pkg := Package{Type: TypeRPM, Name: p.Name, Version: v, Arch: p.Arch, Layer: layer, Path: file, SrcName: p.Name, SrcVersion: v,
			Modularitylabel: p.Modularitylabel, ThirdParty: thirdPartyRPM(p.Vendor, p.Release)}
		if n, sv, ok := splitSourceRPM(p.SourceRpm); ok {
			pkg.SrcName, pkg.SrcVersion = n, rpmVersion(p.Epoch, sv, "")
		}
		out = append(out, pkg)
	}
	return out, nil
}

// keepInstallingLayer gives the packages of a rewritten rpm database
// that the database below already listed (same name and
// EPOCH:VERSION-RELEASE) the layer of that one: the layer that installed
// a package is the lowest whose database lists it (Trivy's applier,
// findPackage), not the last one to rewrite the database; Red Hat's build
// information is chosen by that layer.
func keepInstallingLayer(pkgs, below []Package) {
	if len(below) == 0 {
		return
	}
	first := make(map[[2]string]string, len(below))
	for _, b := range below {
		first[[2]string{b.Name, b.Version}] = b.Layer
	}
	for i := range pkgs {
		if l, ok := first[[2]string{pkgs[i].Name, pkgs[i].Version}]; ok {
			pkgs[i].Layer = l
		}
	}
}

// rpmVersion is EPOCH:VERSION-RELEASE, without a zero or absent epoch.
func rpmVersion(epoch *int, version, release string) string {
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch != nil && *epoch != 0 {
		v = fmt.Sprintf("%d:%s", *epoch, v)
	}
	return v
}

// splitSourceRPM reads "openssl-1.0.2k-19.el7.src.rpm" as openssl and
// 1.0.2k-19.el7.
func splitSourceRPM(s string) (name, version string, ok bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(s[:i], '-')
	if j <= 0 {
		return "", "", false
	}
	return s[:j], s[j+1:], true
}
