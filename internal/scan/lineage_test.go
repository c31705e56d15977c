package scan

import (
	"testing"

	"github.com/berth-registry/berth/internal/scan/scantest"
)

// TestBaseImage: an image made of another's layers plus one has it as
// its base image, with the repositories holding it.
func TestBaseImage(t *testing.T) {
	e := newEnv(t)
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	base := scantest.Layer(t, debianLayer...)
	b := e.putImage(t, "p/debian", base)
	app := e.putImage(t, "p/app", base, scantest.Layer(t, scantest.File{Path: "app", Body: []byte("x")}))
	e.scan(t, b)
	e.scan(t, app)
	l, err := e.sc.BaseImage(t.Context(), app.Digest)
	if err != nil || l == nil || l.Digest != b.Digest || l.Layers != 1 || len(l.Repositories) != 1 || l.Repositories[0] != "p/debian" {
		t.Fatalf("lineage = %+v, %v", l, err)
	}
	if l, _ := e.sc.BaseImage(t.Context(), b.Digest); l != nil {
		t.Fatalf("base of the base = %+v", l)
	}
}
