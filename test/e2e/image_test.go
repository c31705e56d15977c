package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// helloSource is the program inside every test image: no base image can be
// pulled here, so images are FROM scratch with one static binary.
const helloSource = `package main

import ("fmt"; "runtime")

func main() { fmt.Println("hello from berth e2e on " + runtime.GOARCH) }
`

// helloOutput is what `docker run` of the amd64 image prints.
const helloOutput = "hello from berth e2e on amd64"

var (
	buildMu  sync.Mutex
	buildTmp string
	helloBin = map[string]string{} // GOARCH → static binary
)

// hello builds (once per GOARCH) the static test binary and returns its path.
func hello(t *testing.T, arch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p := helloBin[arch]; p != "" {
		return p
	}
	if buildTmp == "" {
		dir, err := os.MkdirTemp("", "berth-e2e-hello-")
		if err != nil {
			t.Fatal(err)
		}
		buildTmp = dir
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSource), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(buildTmp, "hello-"+arch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = buildTmp
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test binary: %v\n%s", err, b)
	}
	helloBin[arch] = out
	return out
}

// removeBuilds deletes the test binaries; called from TestMain.
func removeBuilds() {
	if buildTmp != "" {
		os.RemoveAll(buildTmp)
	}
}

// image is a one-layer linux image built in memory around the hello binary.
type image struct {
	arch             string
	layerTar         []byte // uncompressed
	layerGz          []byte
	config           []byte
	manifest         []byte // OCI image manifest
	diffID, layerGzD digest.Digest
}

// newImage assembles the image for arch.
func newImage(t *testing.T, arch string) *image {
	t.Helper()
	bin, err := os.ReadFile(hello(t, arch))
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gb bytes.Buffer
	gw := gzip.NewWriter(&gb)
	if _, err := gw.Write(tb.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	img := &image{arch: arch, layerTar: tb.Bytes(), layerGz: gb.Bytes()}
	img.diffID, img.layerGzD = digest.FromBytes(img.layerTar), digest.FromBytes(img.layerGz)
	img.config = mustJSON(t, map[string]any{
		"architecture": arch, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/hello"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{string(img.diffID)}},
	})
	img.manifest = mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", img.config),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", img.layerGz)},
	})
	return img
}

func descriptor(mediaType string, content []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest.FromBytes(content).String(), "size": len(content)}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeOCILayout writes the image as an OCI image layout directory with one
// manifest annotated with tag.
func (img *image) writeOCILayout(t *testing.T, dir, tag string) {
	t.Helper()
	md := descriptor("application/vnd.oci.image.manifest.v1+json", img.manifest)
	md["annotations"] = map[string]string{"org.opencontainers.image.ref.name": tag}
	md["platform"] = map[string]string{"architecture": img.arch, "os": "linux"}
	files := map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json": mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{md}}),
	}
	for _, b := range [][]byte{img.manifest, img.config, img.layerGz} {
		files[filepath.Join("blobs", "sha256", digest.FromBytes(b).Encoded())] = b
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeIndexLayout writes an OCI image layout whose tag names an image
// index of imgs (a multi-arch image).
func writeIndexLayout(t *testing.T, dir, tag string, imgs ...*image) []byte {
	t.Helper()
	var manifests []any
	for _, img := range imgs {
		img.writeOCILayout(t, dir, img.arch)
		md := descriptor("application/vnd.oci.image.manifest.v1+json", img.manifest)
		md["platform"] = map[string]string{"architecture": img.arch, "os": "linux"}
		manifests = append(manifests, md)
	}
	index := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
	d := descriptor("application/vnd.oci.image.index.v1+json", index)
	d["annotations"] = map[string]string{"org.opencontainers.image.ref.name": tag}
	top := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{d}})
	for name, b := range map[string][]byte{"index.json": top, filepath.Join("blobs", "sha256", digest.FromBytes(index).Encoded()): index} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return index
}

// writeDockerArchive writes the image as a `docker save` tarball tagged ref.
func (img *image) writeDockerArchive(t *testing.T, path, ref string) {
	t.Helper()
	cfgFile := digest.FromBytes(img.config).Encoded() + ".json"
	layerFile := img.diffID.Encoded() + "/layer.tar"
	manifest := mustJSON(t, []any{map[string]any{"Config": cfgFile, "RepoTags": []string{ref}, "Layers": []string{layerFile}}})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct {
		name string
		body []byte
	}{{cfgFile, img.config}, {layerFile, img.layerTar}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// digest is the digest of the image manifest.
func (img *image) digest() digest.Digest { return digest.FromBytes(img.manifest) }
