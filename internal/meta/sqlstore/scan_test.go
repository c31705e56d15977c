package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestScanSQLite(t *testing.T) {
	metatest.RunScan(t, func(t *testing.T) meta.ScanStore {
		s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestScanPostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunScan(t, func(t *testing.T) meta.ScanStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
