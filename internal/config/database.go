package config

import (
	"flag"
	"fmt"
	"net/url"
	"time"
)

// Database selects the metadata database: the embedded SQLite file under
// --data-dir, or PostgreSQL shared by several replicas.
type Database struct {
	URL      string        // "" or postgres://…
	MaxConns int           // PostgreSQL connection pool bound
	Timeout  time.Duration // bound on each operation, including the wait for a pooled connection
}

// DefaultDatabase: embedded SQLite; for PostgreSQL a pool of 20 and 30s.
func DefaultDatabase() Database {
	return Database{MaxConns: 20, Timeout: 30 * time.Second}
}

func (d *Database) flags(fs *flag.FlagSet) {
	fs.StringVar(&d.URL, "database-url", d.URL, "PostgreSQL URL postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… for metadata shared by replicas (empty: SQLite in --data-dir)")
	fs.IntVar(&d.MaxConns, "db-max-conns", d.MaxConns, "most PostgreSQL connections; when all are busy, requests wait for one (up to --db-timeout)")
	fs.DurationVar(&d.Timeout, "db-timeout", d.Timeout, "longest a PostgreSQL operation may take, including waiting for a free connection")
}

// validate names the first bad database setting. The URL is never quoted
// back: it may hold a password.
func (d *Database) validate() error {
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return fmt.Errorf("database-url: want postgres://USER:PASSWORD@HOST:PORT/DB (or empty for SQLite)")
		}
	}
	if d.MaxConns < 1 || d.MaxConns > 1000 {
		return fmt.Errorf("db-max-conns %d: want between 1 and 1000", d.MaxConns)
	}
	if d.Timeout < 100*time.Millisecond {
		return fmt.Errorf("db-timeout %s: want at least 100ms", d.Timeout)
	}
	return nil
}
