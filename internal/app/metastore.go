package app

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// openMeta opens the metadata store the configuration names: PostgreSQL
// for a --database-url (shared by replicas), else the embedded SQLite file
// in the data directory.
func openMeta(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlstore.Store, error) {
	if cfg.Database.URL == "" {
		return sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "meta.db"))
	}
	s, err := sqlstore.OpenPostgres(ctx, cfg.Database.URL, sqlstore.PostgresOptions{
		MaxConns: cfg.Database.MaxConns,
		Timeout:  cfg.Database.Timeout,
	})
	if err != nil {
		return nil, err
	}
	// Never the URL: it may hold a password.
	log.Info("metadata in PostgreSQL", "max_conns", cfg.Database.MaxConns, "timeout", cfg.Database.Timeout.String())
	return s, nil
}
