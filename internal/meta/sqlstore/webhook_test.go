package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestWebhookSuiteSQLite(t *testing.T) {
	metatest.RunWebhook(t, func(t *testing.T) metatest.WebhookStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestWebhookSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunWebhook(t, func(t *testing.T) metatest.WebhookStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
