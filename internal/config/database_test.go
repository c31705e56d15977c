package config

import (
	"strings"
	"testing"
	"time"
)

func TestDatabaseSettings(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != (Database{MaxConns: 20, Timeout: 30 * time.Second}) {
		t.Fatalf("database defaults: %+v", c.Database)
	}
	c, err = load(t, []string{"--db-max-conns", "5"}, map[string]string{
		"BERTH_DATABASE_URL": "postgres://berth:secret@db.internal:5432/berth?sslmode=require",
		"BERTH_DB_TIMEOUT":   "5s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://berth:secret@db.internal:5432/berth?sslmode=require" || c.Database.MaxConns != 5 || c.Database.Timeout != 5*time.Second {
		t.Fatalf("database settings: %+v", c.Database)
	}
}

func TestDatabaseInvalid(t *testing.T) {
	for field, args := range map[string][]string{
		"database-url": {"--database-url", "mysql://u:hunter2@h/db"},
		"db-max-conns": {"--db-max-conns", "0"},
		"db-timeout":   {"--db-timeout", "1ms"},
	} {
		_, err := load(t, args, nil)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the password: %v", field, err)
		}
	}
}
