package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestProjectSettingsSQLite(t *testing.T) {
	metatest.RunProjectSettings(t, func(t *testing.T) metatest.FullStore {
		s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestProjectSettingsPostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunProjectSettings(t, func(t *testing.T) metatest.FullStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
