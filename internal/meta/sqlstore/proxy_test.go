package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestProxySQLite(t *testing.T) {
	metatest.RunProxy(t, func(t *testing.T) metatest.ProxyFullStore {
		s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestProxyPostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunProxy(t, func(t *testing.T) metatest.ProxyFullStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
