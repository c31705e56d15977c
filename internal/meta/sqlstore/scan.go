package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.ScanStore = (*Store)(nil)

// PutCatalogue implements meta.ScanStore.
func (s *Store) PutCatalogue(ctx context.Context, d digest.Digest, analyzer int, data []byte, layers []digest.Digest) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		return putCatalogue(ctx, tx, &meta.ScanCatalogue{Digest: d, Analyzer: analyzer, Data: data, Layers: layers})
	})
}

func putCatalogue(ctx context.Context, tx tx, c *meta.ScanCatalogue) error {
	if _, err := tx.exec(ctx, `INSERT INTO scan_catalogues (digest, analyzer, data, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET analyzer = excluded.analyzer, data = excluded.data, created_at = excluded.created_at`,
		string(c.Digest), c.Analyzer, string(c.Data), now()); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `DELETE FROM scan_layers WHERE digest = ?`, string(c.Digest)); err != nil {
		return err
	}
	for i, l := range c.Layers {
		if _, err := tx.exec(ctx, `INSERT INTO scan_layers (digest, position, layer) VALUES (?, ?, ?)`, string(c.Digest), i, string(l)); err != nil {
			return err
		}
	}
	return nil
}

// SaveScanResult implements meta.ScanStore.
func (s *Store) SaveScanResult(ctx context.Context, c *meta.ScanCatalogue, r *meta.ScanReport) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if c != nil {
			if err := putCatalogue(ctx, tx, c); err != nil {
				return err
			}
		}
		return putScanReport(ctx, tx.exec, r)
	})
}

// EnqueueScans implements meta.ScanStore.
func (s *Store) EnqueueScans(ctx context.Context, reqs []meta.ScanRequest) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		for _, q := range reqs {
			if err := insertExecution(ctx, tx.queryRow, q.Execution, false); err != nil {
				return err
			}
			switch {
			case q.Report != nil:
				q.Report.ExecutionID = q.Execution.ID
				if err := putScanReport(ctx, tx.exec, q.Report); err != nil {
					return err
				}
			case q.SBOM != nil:
				if err := putScanSBOM(ctx, tx.exec, q.SBOM); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// BaseImage implements meta.ScanStore: among the images sharing d's
// first layers position by position, the one all of whose layers match
// and that has fewer than d, the longest.
func (s *Store) BaseImage(ctx context.Context, d digest.Digest) (_ digest.Digest, _ int, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var base string
	var n int
	err = s.queryRow(ctx, `SELECT b.digest, COUNT(*) FROM scan_layers b
		JOIN scan_layers m ON m.digest = ? AND m.position = b.position AND m.layer = b.layer
		WHERE b.digest <> ?
		GROUP BY b.digest
		HAVING COUNT(*) = (SELECT COUNT(*) FROM scan_layers c WHERE c.digest = b.digest)
		   AND COUNT(*) < (SELECT COUNT(*) FROM scan_layers c WHERE c.digest = ?)
		ORDER BY COUNT(*) DESC, b.digest LIMIT 1`, string(d), string(d), string(d)).Scan(&base, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return digest.Digest(base), n, err
}

// Catalogue implements meta.ScanStore.
func (s *Store) Catalogue(ctx context.Context, d digest.Digest) (_ int, _ []byte, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var analyzer int
	var data string
	err = s.queryRow(ctx, `SELECT analyzer, data FROM scan_catalogues WHERE digest = ?`, string(d)).Scan(&analyzer, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, meta.ErrNotFound
	}
	return analyzer, []byte(data), err
}

// CataloguedDigests implements meta.ScanStore.
func (s *Store) CataloguedDigests(ctx context.Context, after digest.Digest, limit int) (_ []digest.Digest, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT digest FROM scan_catalogues WHERE digest > ? ORDER BY digest LIMIT ?`, string(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, digest.Digest(d))
	}
	return out, rows.Err()
}

const reportColumns = `digest, report_id, status, execution_id, has_result, vulndb, severity, total, fixable, summary, findings,
	start_time, end_time, updated_at`

func scanReport(sc interface{ Scan(...any) error }) (*meta.ScanReport, error) {
	var r meta.ScanReport
	var d, summary, findings string
	var has, start, end, upd int64
	if err := sc.Scan(&d, &r.ReportID, &r.Status, &r.ExecutionID, &has, &r.VulnDB, &r.Severity, &r.Total, &r.Fixable,
		&summary, &findings, &start, &end, &upd); err != nil {
		return nil, err
	}
	r.Digest, r.HasResult, r.Summary, r.Findings = digest.Digest(d), has != 0, []byte(summary), []byte(findings)
	r.StartTime, r.EndTime, r.UpdatedAt = ms2t(start), ms2t(end), ms2t(upd)
	return &r, nil
}

// PutScanReport implements meta.ScanStore.
func (s *Store) PutScanReport(ctx context.Context, r *meta.ScanReport) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return putScanReport(ctx, s.exec, r)
}

// putScanReport writes r with exec (the store's, or a transaction's).
func putScanReport(ctx context.Context, exec func(context.Context, string, ...any) (sql.Result, error), r *meta.ScanReport) error {
	summary, findings := string(r.Summary), string(r.Findings)
	if summary == "" {
		summary = "{}"
	}
	if findings == "" {
		findings = "[]"
	}
	_, err := exec(ctx, `INSERT INTO scan_reports (`+reportColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET report_id = excluded.report_id, status = excluded.status,
		execution_id = excluded.execution_id, has_result = excluded.has_result, vulndb = excluded.vulndb,
		severity = excluded.severity, total = excluded.total, fixable = excluded.fixable, summary = excluded.summary,
		findings = excluded.findings, start_time = excluded.start_time, end_time = excluded.end_time, updated_at = excluded.updated_at`,
		string(r.Digest), r.ReportID, r.Status, r.ExecutionID, b2i(r.HasResult), r.VulnDB, r.Severity, r.Total, r.Fixable,
		summary, findings, t2ms(r.StartTime), t2ms(r.EndTime), now())
	return err
}

// ScanReports implements meta.ScanStore.
func (s *Store) ScanReports(ctx context.Context, ds []digest.Digest) (_ map[digest.Digest]*meta.ScanReport, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := map[digest.Digest]*meta.ScanReport{}
	for len(ds) > 0 {
		batch := ds[:min(len(ds), 500)]
		ds = ds[len(batch):]
		args := make([]any, len(batch))
		for i, d := range batch {
			args[i] = string(d)
		}
		in := strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")
		rows, err := s.query(ctx, `SELECT `+reportColumns+` FROM scan_reports WHERE digest IN (`+in+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanReport(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[r.Digest] = r
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ScanReportByID implements meta.ScanStore.
func (s *Store) ScanReportByID(ctx context.Context, id string) (_ *meta.ScanReport, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	r, err := scanReport(s.queryRow(ctx, `SELECT `+reportColumns+` FROM scan_reports WHERE report_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrNotFound
	}
	return r, err
}

// VulnerableReports implements meta.ScanStore.
func (s *Store) VulnerableReports(ctx context.Context, after digest.Digest, limit int) (_ []meta.ScanReport, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT `+reportColumns+` FROM scan_reports WHERE total > 0 AND digest > ? ORDER BY digest LIMIT ?`,
		string(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.ScanReport
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// PutScanSBOM implements meta.ScanStore.
func (s *Store) PutScanSBOM(ctx context.Context, b *meta.ScanSBOM) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return putScanSBOM(ctx, s.exec, b)
}

func putScanSBOM(ctx context.Context, exec func(context.Context, string, ...any) (sql.Result, error), b *meta.ScanSBOM) error {
	_, err := exec(ctx, `INSERT INTO scan_sboms (digest, report_id, status, sbom_digest, media_type, repo, start_time, end_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest, repo) DO UPDATE SET report_id = excluded.report_id, status = excluded.status,
		sbom_digest = excluded.sbom_digest, media_type = excluded.media_type, start_time = excluded.start_time, end_time = excluded.end_time`,
		string(b.Digest), b.ReportID, b.Status, string(b.SBOMDigest), b.MediaType, b.Repo, t2ms(b.StartTime), t2ms(b.EndTime))
	return err
}

// ScanSBOMs implements meta.ScanStore.
func (s *Store) ScanSBOMs(ctx context.Context, repo string, ds []digest.Digest) (_ map[digest.Digest]*meta.ScanSBOM, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := map[digest.Digest]*meta.ScanSBOM{}
	if len(ds) == 0 {
		return out, nil
	}
	args := make([]any, len(ds), len(ds)+1)
	for i, d := range ds {
		args[i] = string(d)
	}
	args = append(args, repo)
	in := strings.TrimSuffix(strings.Repeat("?, ", len(ds)), ", ")
	rows, err := s.query(ctx, `SELECT digest, report_id, status, sbom_digest, media_type, repo, start_time, end_time FROM scan_sboms
		WHERE digest IN (`+in+`) AND repo = ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var b meta.ScanSBOM
		var d, sd string
		var start, end int64
		if err := rows.Scan(&d, &b.ReportID, &b.Status, &sd, &b.MediaType, &b.Repo, &start, &end); err != nil {
			return nil, err
		}
		b.Digest, b.SBOMDigest, b.StartTime, b.EndTime = digest.Digest(d), digest.Digest(sd), ms2t(start), ms2t(end)
		out[b.Digest] = &b
	}
	return out, rows.Err()
}

// SetVulnDB implements meta.ScanStore.
func (s *Store) SetVulnDB(ctx context.Context, st meta.VulnDBState) (changed bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `INSERT INTO scan_vulndb (id, digest, updated_at, imported_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at, imported_at = excluded.imported_at
		WHERE scan_vulndb.digest <> excluded.digest`, st.Digest, t2ms(st.UpdatedAt), t2ms(st.ImportedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// VulnDB implements meta.ScanStore.
func (s *Store) VulnDB(ctx context.Context) (_ meta.VulnDBState, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var st meta.VulnDBState
	var upd, imp int64
	err = s.queryRow(ctx, `SELECT digest, updated_at, imported_at FROM scan_vulndb WHERE id = 1`).Scan(&st.Digest, &upd, &imp)
	if errors.Is(err, sql.ErrNoRows) {
		return st, meta.ErrNotFound
	}
	st.UpdatedAt, st.ImportedAt = ms2t(upd), ms2t(imp)
	return st, err
}

// SystemCVEAllowlist implements meta.ScanStore.
func (s *Store) SystemCVEAllowlist(ctx context.Context) (_ meta.CVEAllowlist, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	l := meta.CVEAllowlist{Items: []string{}}
	var exp sql.NullInt64
	var items string
	var created, updated int64
	err = s.queryRow(ctx, `SELECT expires_at, items, created_at, updated_at FROM scan_system_allowlist WHERE id = 1`).
		Scan(&exp, &items, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	l.ID, l.CreatedAt, l.UpdatedAt = 1, ms2t(created), ms2t(updated)
	if exp.Valid {
		l.ExpiresAt = &exp.Int64
	}
	if err := json.Unmarshal([]byte(items), &l.Items); err != nil || l.Items == nil {
		l.Items = []string{}
	}
	return l, nil
}

// SetSystemCVEAllowlist implements meta.ScanStore.
func (s *Store) SetSystemCVEAllowlist(ctx context.Context, l meta.CVEAllowlist) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if l.Items == nil {
		l.Items = []string{}
	}
	items, err := json.Marshal(l.Items)
	if err != nil {
		return err
	}
	t := now()
	_, err = s.exec(ctx, `INSERT INTO scan_system_allowlist (id, expires_at, items, created_at, updated_at) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, items = excluded.items, updated_at = excluded.updated_at`,
		l.ExpiresAt, string(items), t, t)
	return err
}

// PullPolicies implements meta.ScanStore.
func (s *Store) PullPolicies(ctx context.Context) (_ map[string]meta.PullPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT p.id, p.name, m.name, m.value FROM project_metadata m JOIN projects p ON p.id = m.project_id
		WHERE m.project_id IN (SELECT project_id FROM project_metadata WHERE name = 'prevent_vul' AND value = 'true')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]meta.PullPolicy{}
	for rows.Next() {
		var id int64
		var project, name, value string
		if err := rows.Scan(&id, &project, &name, &value); err != nil {
			return nil, err
		}
		pp, ok := out[project]
		if !ok {
			pp = meta.PullPolicy{ProjectID: id, Metadata: map[string]string{}}
			out[project] = pp
		}
		pp.Metadata[name] = value
	}
	return out, rows.Err()
}

// ScanCandidates implements meta.ScanStore.
func (s *Store) ScanCandidates(ctx context.Context, afterRepo string, afterDigest digest.Digest, limit int) (_ []meta.ScanCandidate, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT repo, digest, media_type FROM manifests WHERE subject IS NULL AND (repo > ? OR (repo = ? AND digest > ?))
		ORDER BY repo, digest LIMIT ?`, afterRepo, afterRepo, string(afterDigest), limit)
	if err != nil {
		return nil, err
	}
	return scanCandidates(rows)
}

// scanCandidates reads rows of repo, digest, media_type.
func scanCandidates(rows *sql.Rows) ([]meta.ScanCandidate, error) {
	defer rows.Close()
	var out []meta.ScanCandidate
	for rows.Next() {
		var c meta.ScanCandidate
		var d string
		if err := rows.Scan(&c.Repo, &d, &c.MediaType); err != nil {
			return nil, err
		}
		c.Digest = digest.Digest(d)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UnscannedSince implements meta.ScanStore.
func (s *Store) UnscannedSince(ctx context.Context, since time.Time, limit int) (_ []meta.ScanCandidate, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	// A project's repositories are named "project/…" (compared by
	// substr, not by a range: PostgreSQL's collation may not order '/'
	// by its code).
	rows, err := s.query(ctx, `SELECT m.repo, m.digest, m.media_type FROM projects p
		JOIN project_metadata md ON md.project_id = p.id AND md.name = 'auto_scan' AND md.value = 'true'
		JOIN manifests m ON substr(m.repo, 1, length(p.name) + 1) = p.name || '/'
		WHERE m.subject IS NULL AND m.created_at >= ?
		  AND NOT EXISTS (SELECT 1 FROM scan_reports r WHERE r.digest = m.digest)
		ORDER BY m.created_at, m.repo, m.digest LIMIT ?`, t2ms(since), limit)
	if err != nil {
		return nil, err
	}
	return scanCandidates(rows)
}

// DigestRepositories implements meta.ScanStore.
func (s *Store) DigestRepositories(ctx context.Context, ds []digest.Digest) (_ map[digest.Digest][]string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := map[digest.Digest][]string{}
	for len(ds) > 0 {
		batch := ds[:min(len(ds), 500)]
		ds = ds[len(batch):]
		args := make([]any, len(batch))
		for i, d := range batch {
			args[i] = string(d)
		}
		in := strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")
		rows, err := s.query(ctx, `SELECT digest, repo FROM manifests WHERE digest IN (`+in+`) ORDER BY digest, repo`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d, repo string
			if err := rows.Scan(&d, &repo); err != nil {
				rows.Close()
				return nil, err
			}
			out[digest.Digest(d)] = append(out[digest.Digest(d)], repo)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
