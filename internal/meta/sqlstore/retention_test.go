package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestRetentionSuiteSQLite(t *testing.T) {
	metatest.RunRetention(t, func(t *testing.T) metatest.RetentionStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRetentionSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunRetention(t, func(t *testing.T) metatest.RetentionStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
