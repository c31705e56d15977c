package api

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Pushes of real artifacts for the artifact tests: blobs into a blob store
// (which withBlobs gives the API) and the database, manifests parsed and
// stored as the registry stores them.

// withBlobs gives e's API a blob store in a temporary directory.
func withBlobs(e *env) blob.Store {
	e.t.Helper()
	bs, err := blobfs.New(e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.api.opt.Blobs = bs
	return bs
}

// blobIn puts content into the blob store (if the API has one) and links
// it into repo.
func (e *env) blobIn(repo, mediaType string, content []byte) oci.Descriptor {
	e.t.Helper()
	d := digest.FromBytes(content)
	if bs := e.api.opt.Blobs; bs != nil {
		id := blob.NewUploadID()
		w, err := bs.Append(e.ctx, id, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := w.Write(content); err != nil {
			e.t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			e.t.Fatal(err)
		}
		if err := bs.Commit(e.ctx, id, d, int64(len(content))); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.store.CommitBlob(e.ctx, repo, d, int64(len(content)), ""); err != nil {
		e.t.Fatal(err)
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// manifestIn stores manifest v (marshalled) in repo with tags, as a push
// would, and returns its descriptor.
func (e *env) manifestIn(repo string, v any, tags ...string) oci.Descriptor {
	e.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := oci.ParseManifest("", body)
	if err != nil {
		e.t.Fatalf("ParseManifest(%s): %v", body, err)
	}
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: p.MediaType, Size: int64(len(body)),
		Body: body, ArtifactType: p.ArtifactType, Annotations: p.Annotations, Refs: p.Refs}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	if err := e.store.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
}

// imageSpec describes an image to push.
type imageSpec struct {
	arch, os, author string
	labels           map[string]string
	history          []map[string]any
	annotations      map[string]string
	configMediaType  string // default: OCI image config
}

// pushImage pushes an image with a real config (architecture, os, config,
// history) and one layer.
func (e *env) pushImage(repo string, spec imageSpec, tags ...string) oci.Descriptor {
	e.t.Helper()
	cfg := map[string]any{
		"created": "2024-05-06T07:08:09.123456789Z", "architecture": spec.arch, "os": spec.os,
		"config": map[string]any{"Env": []string{"PATH=/usr/bin"}, "Cmd": []string{"/app"}, "Labels": spec.labels,
			"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}}, "Hostname": "dropped by Harbor"},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{string(digest.FromString(repo + spec.arch))}},
		"history": spec.history,
	}
	if spec.author != "" {
		cfg["author"] = spec.author
	}
	cb, _ := json.Marshal(cfg)
	mt := spec.configMediaType
	if mt == "" {
		mt = "application/vnd.oci.image.config.v1+json"
	}
	config := e.blobIn(repo, mt, cb)
	layer := e.blobIn(repo, "application/vnd.oci.image.layer.v1.tar+gzip", []byte("layer of "+repo+spec.arch+time.Now().String()))
	return e.manifestIn(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": config, "layers": []oci.Descriptor{layer}, "annotations": spec.annotations}, tags...)
}

// platformOf is an index entry's platform.
type platformOf struct{ arch, os, variant, osVersion string }

// pushIndex pushes an OCI index over children (descriptors with
// platforms) with tags.
func (e *env) pushIndex(repo string, children map[platformOf]oci.Descriptor, annotations map[string]string, tags ...string) oci.Descriptor {
	e.t.Helper()
	var ms []map[string]any
	for p, d := range children {
		pl := map[string]any{"architecture": p.arch, "os": p.os}
		if p.variant != "" {
			pl["variant"] = p.variant
		}
		if p.osVersion != "" {
			pl["os.version"] = p.osVersion
			pl["os.features"] = []string{"win32k"}
		}
		ms = append(ms, map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size, "platform": pl,
			"annotations": map[string]string{"child": p.arch}})
	}
	return e.manifestIn(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "manifests": ms,
		"annotations": annotations}, tags...)
}

// pushCosignSig pushes a cosign signature of subject the way cosign does
// without the referrers API: tagged sha256-HEX.sig.
func (e *env) pushCosignSig(repo string, subject digest.Digest) oci.Descriptor {
	e.t.Helper()
	config := e.blobIn(repo, "application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`))
	payload := e.blobIn(repo, "application/vnd.dev.cosign.simplesigning.v1+json",
		[]byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject+`"}}}`))
	payload.Annotations = map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQ..."}
	return e.manifestIn(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": config, "layers": []oci.Descriptor{payload}}, "sha256-"+subject.Encoded()+".sig")
}

// pushReferrer pushes an OCI 1.1 artifact of artifactType whose subject
// is subject.
func (e *env) pushReferrer(repo string, subject oci.Descriptor, artifactType, payload string) oci.Descriptor {
	e.t.Helper()
	empty := e.blobIn(repo, oci.MediaTypeEmptyJSON, []byte("{}"))
	layer := e.blobIn(repo, "application/octet-stream", []byte(payload))
	return e.manifestIn(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"artifactType": artifactType, "config": empty, "layers": []oci.Descriptor{layer},
		"subject": oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}})
}

// chartTgz is a chart archive holding files under its top directory.
func chartTgz(t *testing.T, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + name, Mode: 0o644, Size: int64(len(content)),
			Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pushChart pushes a Helm chart as `helm push` does: the chart's metadata
// as the config, the archive as the one layer.
func (e *env) pushChart(repo string, meta map[string]any, archive []byte, tags ...string) oci.Descriptor {
	e.t.Helper()
	cb, _ := json.Marshal(meta)
	config := e.blobIn(repo, mtHelmConfig, cb)
	layer := e.blobIn(repo, mtHelmChart, archive)
	return e.manifestIn(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": config, "layers": []oci.Descriptor{layer}}, tags...)
}
