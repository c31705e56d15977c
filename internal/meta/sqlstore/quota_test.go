package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestQuotaSuiteSQLite(t *testing.T) {
	metatest.RunQuota(t, func(t *testing.T) metatest.QuotaStore {
		s := openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestQuotaSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunQuota(t, func(t *testing.T) metatest.QuotaStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
