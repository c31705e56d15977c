package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultPGBin is where Debian's postgresql-client-15 puts the tools
// when they are not on PATH.
const defaultPGBin = "/usr/lib/postgresql/15/bin"

// pgTool finds pg_dump or pg_restore: in dir if given, else on PATH, else
// in defaultPGBin.
func pgTool(dir, name string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w (--pg-bin)", name, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(defaultPGBin, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found on PATH nor in %s: install the PostgreSQL client (the version of the server or newer) or give --pg-bin", name, defaultPGBin)
	}
	return p, nil
}

// pgCommand runs a PostgreSQL tool on dbURL. The password, if any, goes in
// PGPASSWORD rather than on the command line, where ps would show it.
func pgCommand(ctx context.Context, tool, dbURL string, args ...string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return errors.New("database-url: cannot parse")
	}
	env := os.Environ()
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	cmd := exec.CommandContext(ctx, tool, append([]string{"--dbname=" + u.String()}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, msg)
	}
	return nil
}

// pgTarget is the empty database a snapshot is restored into.
type pgTarget struct {
	db        *sql.DB
	url, tool string
}

func openPGTarget(ctx context.Context, dbURL, pgBin string) (*pgTarget, error) {
	tool, err := pgTool(pgBin, "pg_restore")
	if err != nil {
		return nil, err
	}
	db, err := openPostgres(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_catalog.pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	if n > 0 {
		db.Close()
		return nil, fmt.Errorf("the database of --database-url is not empty (%d tables): restore only into a new, empty database", n)
	}
	return &pgTarget{db: db, url: dbURL, tool: tool}, nil
}

func (t *pgTarget) close() { t.db.Close() }

// restore loads the dump in one transaction, then checks that the blobs
// the database references are the ones the manifest lists (and so were
// verified).
func (t *pgTarget) restore(ctx context.Context, m *Manifest, dump string) error {
	if err := pgCommand(ctx, t.tool, t.url, "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", dump); err != nil {
		return err
	}
	blobs, err := listBlobs(ctx, t.db)
	if err != nil {
		return err
	}
	return checkListed(m, blobs)
}
