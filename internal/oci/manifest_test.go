package oci

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

var (
	cfgDigest   = digest.FromString("config")
	layerDigest = digest.FromString("layer")
)

func desc(mt string, d digest.Digest, size int64) map[string]any {
	return map[string]any{"mediaType": mt, "digest": d, "size": size}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func image(extra map[string]any) map[string]any {
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeImageManifest,
		"config":        desc("application/vnd.oci.image.config.v1+json", cfgDigest, 6),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar+gzip", layerDigest, 5)},
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func TestParseManifestImage(t *testing.T) {
	m, err := ParseManifest(MediaTypeImageManifest, mustJSON(t, image(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != MediaTypeImageManifest || m.ArtifactType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("got %+v", m)
	}
	want := []Ref{{cfgDigest, 6, RefBlob}, {layerDigest, 5, RefBlob}}
	if len(m.Refs) != 2 || m.Refs[0] != want[0] || m.Refs[1] != want[1] {
		t.Errorf("refs = %+v, want %+v", m.Refs, want)
	}
}

func TestParseManifestIndexAndSubject(t *testing.T) {
	child := digest.FromString("child")
	subj := digest.FromString("subject")
	body := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": MediaTypeImageIndex, "artifactType": "application/x.sig",
		"manifests": []any{desc(MediaTypeImageManifest, child, 10)},
		"subject":   desc(MediaTypeImageManifest, subj, 3),
	})
	m, err := ParseManifest("", body)
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != MediaTypeImageIndex || m.ArtifactType != "application/x.sig" || m.Subject.Digest != subj {
		t.Errorf("got %+v", m)
	}
	if len(m.Refs) != 1 || m.Refs[0] != (Ref{child, 10, RefManifest}) {
		t.Errorf("refs = %+v", m.Refs)
	}
}

func TestParseManifestDetection(t *testing.T) {
	noMT := image(map[string]any{"mediaType": nil})
	if m, err := ParseManifest("", mustJSON(t, noMT)); err != nil || m.MediaType != MediaTypeImageManifest {
		t.Errorf("no media type anywhere: %v %v", m, err)
	}
	if m, err := ParseManifest(MediaTypeDockerManifest+"; charset=utf-8", mustJSON(t, image(map[string]any{"mediaType": MediaTypeDockerManifest}))); err != nil || m.MediaType != MediaTypeDockerManifest {
		t.Errorf("docker manifest with parameters: %v %v", m, err)
	}
}

func TestParseManifestNonDistributable(t *testing.T) {
	body := mustJSON(t, image(map[string]any{"layers": []any{
		desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", layerDigest, 5),
		desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", layerDigest, 5),
	}}))
	m, err := ParseManifest("", body)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Refs) != 1 {
		t.Errorf("non-distributable layers must not be required refs: %+v", m.Refs)
	}
}

func TestParseManifestDataField(t *testing.T) {
	data := []byte("config")
	cfg := desc("application/vnd.oci.image.config.v1+json", cfgDigest, 6)
	cfg["data"] = data
	if _, err := ParseManifest("", mustJSON(t, image(map[string]any{"config": cfg}))); err != nil {
		t.Errorf("matching data: %v", err)
	}
	cfg["data"] = []byte("CONFIG")
	if _, err := ParseManifest("", mustJSON(t, image(map[string]any{"config": cfg}))); !errors.Is(err, ErrManifestInvalid) {
		t.Errorf("mismatching data accepted: %v", err)
	}
}

func TestParseManifestInvalid(t *testing.T) {
	cases := map[string]struct {
		ct   string
		body string
	}{
		"not json":            {"", "{"},
		"trailing":            {"", string(mustJSON(t, image(nil))) + "{}"},
		"array":               {"", "[]"},
		"schema 1":            {"", string(mustJSON(t, image(map[string]any{"schemaVersion": 1})))},
		"no schema":           {"", string(mustJSON(t, image(map[string]any{"schemaVersion": nil})))},
		"type mismatch":       {MediaTypeImageIndex, string(mustJSON(t, image(nil)))},
		"unknown type":        {"", string(mustJSON(t, image(map[string]any{"mediaType": "text/plain"})))},
		"no config":           {"", string(mustJSON(t, image(map[string]any{"config": nil})))},
		"bad digest":          {"", string(mustJSON(t, image(map[string]any{"config": desc("x/y", "sha256:zz", 1)})))},
		"negative size":       {"", string(mustJSON(t, image(map[string]any{"config": desc("x/y", cfgDigest, -1)})))},
		"no descriptor type":  {"", string(mustJSON(t, image(map[string]any{"config": desc("", cfgDigest, 1)})))},
		"index with layers":   {MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"` + MediaTypeImageIndex + `","manifests":[],"layers":[]}`},
		"image with children": {"", string(mustJSON(t, image(map[string]any{"manifests": []any{}})))},
		"bad subject":         {"", string(mustJSON(t, image(map[string]any{"subject": desc("x/y", "sha1:00", 1)})))},
		"size overflow":       {"", strings.Replace(string(mustJSON(t, image(nil))), `"size":6`, `"size":99999999999999999999`, 1)},
	}
	for name, c := range cases {
		if _, err := ParseManifest(c.ct, []byte(c.body)); !errors.Is(err, ErrManifestInvalid) {
			t.Errorf("%s: err = %v, want ErrManifestInvalid", name, err)
		}
	}
}

// FuzzParseManifest: no panic, and anything accepted is internally sound.
func FuzzParseManifest(f *testing.F) {
	f.Add("", mustJSON(f, image(nil)))
	f.Add(MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a/b","digest":"sha256:`+strings.Repeat("a", 64)+`","size":1}]}`))
	f.Add("", []byte(`{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha512:`+strings.Repeat("0", 128)+`","size":0,"data":""}}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseManifest(ct, body)
		if err != nil {
			if !errors.Is(err, ErrManifestInvalid) {
				t.Fatalf("error not wrapped as ErrManifestInvalid: %v", err)
			}
			return
		}
		if !IsManifestType(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		for _, r := range m.Refs {
			if _, err := ParseDigest(string(r.Digest)); err != nil || r.Size < 0 {
				t.Fatalf("accepted bad ref %+v", r)
			}
		}
	})
}
