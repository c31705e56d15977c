package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestBlobDirSuiteSQLite(t *testing.T) {
	metatest.RunBlobDir(t, func(t *testing.T) metatest.BlobDirStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestBlobDirSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunBlobDir(t, func(t *testing.T) metatest.BlobDirStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
