package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestMetricsSuiteSQLite(t *testing.T) {
	metatest.RunMetrics(t, func(t *testing.T) metatest.MetricsStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMetricsSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunMetrics(t, func(t *testing.T) metatest.MetricsStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
