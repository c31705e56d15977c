package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestSigningSQLite(t *testing.T) {
	metatest.RunSigning(t, func(t *testing.T) metatest.SigningFullStore {
		s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSigningPostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunSigning(t, func(t *testing.T) metatest.SigningFullStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
