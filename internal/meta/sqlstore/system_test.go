package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestSystemSuiteSQLite(t *testing.T) {
	metatest.RunSystem(t, func(t *testing.T) metatest.SystemStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSystemSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunSystem(t, func(t *testing.T) metatest.SystemStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
