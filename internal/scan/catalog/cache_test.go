package catalog_test

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/scantest"
)

// byContent names each layer by its digest, as the scanner does, and
// counts the layers opened.
func byContent(opened *atomic.Int64, ls ...[]byte) []catalog.Layer {
	var out []catalog.Layer
	for _, b := range ls {
		out = append(out, catalog.Layer{Digest: digest.FromBytes(b).String(), Open: func(context.Context) (io.ReadCloser, error) {
			opened.Add(1)
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	return out
}

// TestLayerCache: images sharing layers catalogued through one cache give
// what they give without it (whiteouts, opaque directories, a rewritten
// rpm database that keeps the installing layer, whose change must not
// leak into the cached base), and each layer is read once.
func TestLayerCache(t *testing.T) {
	osRelease := scantest.File{Path: "etc/os-release", Body: []byte("ID=\"rhel\"\nVERSION_ID=\"8.5\"\n")}
	rpmdb := scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "ubi8-s390x/Packages")}
	rpmBase := scantest.Layer(t, osRelease, rpmdb)
	rpmAgain := scantest.Layer(t, rpmdb, scantest.File{Path: "app/x", Body: []byte("x")})
	deb := scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
		scantest.File{Path: "var/lib/dpkg/status", Body: []byte(dpkgStatus)},
		scantest.File{Path: "var/lib/dpkg/status.d/tzdata", Body: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\n")},
		scantest.File{Path: "usr/bin/app", Body: scantest.GoBinary(t), Mode: 0o755})
	whiteout := scantest.Layer(t, scantest.File{Path: "usr/bin/.wh.app"}, scantest.File{Path: "var/lib/dpkg/status.d/.wh.tzdata"})
	opaque := scantest.Layer(t, scantest.File{Path: "var/lib/dpkg/.wh..wh..opq"})
	replaced := scantest.Layer(t, scantest.File{Path: "usr/bin/app", Body: []byte("not go any more")})

	images := [][][]byte{
		{rpmBase, rpmAgain}, {rpmBase}, {rpmBase, rpmAgain},
		{deb}, {deb, whiteout}, {deb, opaque}, {deb, replaced}, {deb},
	}
	cache := &catalog.LayerCache{}
	var opened, openedUncached atomic.Int64
	for i, img := range images {
		want, err := catalog.Catalogue(t.Context(), byContent(&openedUncached, img...))
		if err != nil {
			t.Fatal(err)
		}
		got, err := catalog.CatalogueCached(t.Context(), byContent(&opened, img...), cache)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("image %d through the cache:\n%+v\nwant\n%+v", i, got, want)
		}
	}
	if n := opened.Load(); n != 6 {
		t.Errorf("layers read through the cache: %d, want 6 (each once)", n)
	}
	if hits, misses, size := cache.Stats(); hits != 7 || misses != 6 || size <= 0 {
		t.Errorf("cache stats: %d hits, %d misses, %d bytes", hits, misses, size)
	}
	// The rewritten database keeps the base layer as the installing one
	// (the cached base itself unchanged: the second image above matched).
	res, _ := catalog.CatalogueCached(t.Context(), byContent(&opened, rpmBase, rpmAgain), cache)
	if p := names(res)["rpm:openssl-libs"]; p.Layer != digest.FromBytes(rpmBase).String() {
		t.Errorf("openssl-libs installed by %s, want the base layer", p.Layer)
	}
}

// TestLayerCacheBound: the cache holds at most Max bytes, dropping the
// least recently used layer.
func TestLayerCacheBound(t *testing.T) {
	cache := &catalog.LayerCache{Max: 64 << 10}
	var opened atomic.Int64
	var ls [][]byte
	for i := range 40 {
		ls = append(ls, scantest.Layer(t, scantest.File{Path: "var/lib/dpkg/status", Body: bytes.Repeat([]byte{byte('a' + i%26)}, 8<<10)},
			scantest.File{Path: "n", Body: []byte{byte(i)}}))
	}
	for _, l := range ls {
		if _, err := catalog.CatalogueCached(t.Context(), byContent(&opened, l), cache); err != nil {
			t.Fatal(err)
		}
		if _, _, size := cache.Stats(); size > 64<<10 {
			t.Fatalf("cache holds %d bytes, bound 65536", size)
		}
	}
	// The last layer is cached, the first long gone.
	before := opened.Load()
	catalog.CatalogueCached(t.Context(), byContent(&opened, ls[39]), cache)
	if opened.Load() != before {
		t.Error("the most recent layer was read again")
	}
	catalog.CatalogueCached(t.Context(), byContent(&opened, ls[0]), cache)
	if opened.Load() != before+1 {
		t.Error("the oldest layer was still cached")
	}
}
