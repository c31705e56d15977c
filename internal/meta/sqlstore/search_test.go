package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestNameSearchUsesIndexes: the case-insensitive name condition can use
// an index for a pattern without a leading wildcard (SQLite: a NOCASE
// index for LIKE; PostgreSQL: lower(name) text_pattern_ops), and a
// project's repositories are a range of the name's index (the primary
// key on PostgreSQL).
func TestNameSearchUsesIndexes(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			defer s.Close()
			ctx := context.Background()
			d := s.b.d
			explain := `EXPLAIN QUERY PLAN `
			if d.name == "postgres" {
				explain = `EXPLAIN `
				// A few rows: make the planner show whether it can use an index.
				if _, err := s.w.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
					t.Fatal(err)
				}
				s.w.SetMaxOpenConns(1) // keep the SET on the one connection
			}
			for q, want := range map[string]string{
				`SELECT id FROM users WHERE ` + d.likeFold("username"): "users_by_",
				`SELECT id FROM projects WHERE ` + d.likeFold("name"):  "projects_by_",
				`SELECT r.name FROM repositories r WHERE ` + inProject: "",
			} {
				args := []any{"ab%"}
				if strings.Contains(q, "repositories") {
					args = projectRange("p")
				}
				rows, err := s.w.QueryContext(ctx, explain+s.b.bind(q), args...)
				if err != nil {
					t.Fatal(err)
				}
				var plan []string
				for rows.Next() {
					cols, _ := rows.Columns()
					vals := make([]any, len(cols))
					for i := range vals {
						vals[i] = new(any)
					}
					if err := rows.Scan(vals...); err != nil {
						t.Fatal(err)
					}
					for _, v := range vals {
						plan = append(plan, strings.TrimSpace(strings.ReplaceAll(toString(*(v.(*any))), "\n", " ")))
					}
				}
				rows.Close()
				text := strings.Join(plan, " | ")
				if want == "" {
					want = map[string]string{"sqlite": "repositories_by_name", "postgres": "repositories_pkey"}[d.name]
				}
				if !strings.Contains(text, want) || strings.Contains(text, "SCAN users") || strings.Contains(text, "SCAN projects") {
					t.Errorf("%s: plan %q does not use an index %s…", q, text, want)
				}
			}
		})
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
