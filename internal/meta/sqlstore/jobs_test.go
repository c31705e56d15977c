package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestJobSuiteSQLite(t *testing.T) {
	metatest.RunJobs(t, func(t *testing.T) meta.JobStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestJobSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunJobs(t, func(t *testing.T) meta.JobStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestAuditPurgeSuiteSQLite(t *testing.T) {
	metatest.RunAuditPurge(t, func(t *testing.T) metatest.AuditPurgeStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestAuditPurgeSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunAuditPurge(t, func(t *testing.T) metatest.AuditPurgeStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
