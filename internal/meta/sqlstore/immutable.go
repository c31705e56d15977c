package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.ImmutableStore = (*Store)(nil)

// selectorJSON is how a selector is stored: Harbor's field names.
type selectorJSON struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

func selectorsJSON(sels []meta.ImmutableSelector) []selectorJSON {
	out := make([]selectorJSON, 0, len(sels))
	for _, s := range sels {
		out = append(out, selectorJSON(s))
	}
	return out
}

func selectorsOf(js []selectorJSON) []meta.ImmutableSelector {
	out := make([]meta.ImmutableSelector, 0, len(js))
	for _, s := range js {
		out = append(out, meta.ImmutableSelector(s))
	}
	return out
}

// ruleRow is a rule's stored columns but its ids and times.
type ruleRow struct {
	params, tagSelectors, scopeSelectors []byte
	key                                  string
}

// encodeRule serializes r's JSON columns and its selector key: a digest of
// what decides which tags the rule protects (each selector's kind,
// decoration and pattern, in order; JSON encodes map keys sorted).
func encodeRule(r *meta.ImmutableRule) (ruleRow, error) {
	var row ruleRow
	var err error
	if r.Params != nil {
		if row.params, err = json.Marshal(r.Params); err != nil {
			return row, err
		}
	}
	if row.tagSelectors, err = json.Marshal(selectorsJSON(r.TagSelectors)); err != nil {
		return row, err
	}
	scopes := map[string][]selectorJSON{}
	for k, v := range r.ScopeSelectors {
		scopes[k] = selectorsJSON(v)
	}
	if row.scopeSelectors, err = json.Marshal(scopes); err != nil {
		return row, err
	}
	type effect struct{ Kind, Decoration, Pattern string }
	effects := func(sels []meta.ImmutableSelector) []effect {
		out := []effect{}
		for _, s := range sels {
			out = append(out, effect{s.Kind, s.Decoration, s.Pattern})
		}
		return out
	}
	keyScopes := map[string][]effect{}
	for k, v := range r.ScopeSelectors {
		keyScopes[k] = effects(v)
	}
	b, err := json.Marshal(struct {
		Tags   []effect
		Scopes map[string][]effect
	}{effects(r.TagSelectors), keyScopes})
	if err != nil {
		return row, err
	}
	sum := sha256.Sum256(b)
	row.key = hex.EncodeToString(sum[:])
	return row, nil
}

const ruleCols = `id, project_id, priority, disabled, action, template, params, tag_selectors, scope_selectors, created_at, updated_at`

func scanRule(row interface{ Scan(...any) error }) (*meta.ImmutableRule, error) {
	var r meta.ImmutableRule
	var disabled int
	var params, tagSels, scopeSels []byte
	var c, u int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Priority, &disabled, &r.Action, &r.Template, &params, &tagSels, &scopeSels, &c, &u); err != nil {
		return nil, notFound(err)
	}
	r.Disabled, r.CreatedAt, r.UpdatedAt = disabled != 0, ms2t(c), ms2t(u)
	if len(params) > 0 {
		if err := json.Unmarshal(params, &r.Params); err != nil {
			return nil, err
		}
	}
	var tags []selectorJSON
	if err := json.Unmarshal(tagSels, &tags); err != nil {
		return nil, err
	}
	r.TagSelectors = selectorsOf(tags)
	var scopes map[string][]selectorJSON
	if err := json.Unmarshal(scopeSels, &scopes); err != nil {
		return nil, err
	}
	r.ScopeSelectors = make(map[string][]meta.ImmutableSelector, len(scopes))
	for k, v := range scopes {
		r.ScopeSelectors[k] = selectorsOf(v)
	}
	return &r, nil
}

// CreateImmutableRule implements meta.ImmutableStore. The project row is
// locked first (an UPDATE that changes nothing), so concurrent creations
// in one project count the rules one after the other and the bound holds
// on PostgreSQL too.
func (s *Store) CreateImmutableRule(ctx context.Context, r *meta.ImmutableRule) error {
	row, err := encodeRule(r)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if err := affected(tx.exec(ctx, `UPDATE projects SET updated_at = updated_at WHERE id = ?`, r.ProjectID)); err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM immutable_rules WHERE project_id = ?`, r.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n >= meta.MaxImmutableRules {
			return meta.ErrRuleLimit
		}
		t := now()
		var id int64
		err := tx.queryRow(ctx, `INSERT INTO immutable_rules (project_id, priority, disabled, action, template, params,
			tag_selectors, scope_selectors, selector_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.ProjectID, r.Priority, b2i(r.Disabled), r.Action, r.Template, row.params, row.tagSelectors, row.scopeSelectors,
			row.key, t, t).Scan(&id)
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		if err != nil {
			return err
		}
		r.ID, r.CreatedAt, r.UpdatedAt = id, ms2t(t), ms2t(t)
		return nil
	})
}

// ImmutableRule implements meta.ImmutableStore.
func (s *Store) ImmutableRule(ctx context.Context, projectID, id int64) (_ *meta.ImmutableRule, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanRule(s.queryRow(ctx, `SELECT `+ruleCols+` FROM immutable_rules WHERE id = ? AND project_id = ?`, id, projectID))
}

// ruleListing is the keys of ListImmutableRules (Harbor's names).
var ruleListing = listing{
	"id":       {expr: "id", kind: intValue},
	"priority": {expr: "priority", kind: intValue},
	"disabled": {expr: "disabled", kind: boolValue},
}

// ListImmutableRules implements meta.ImmutableStore.
func (s *Store) ListImmutableRules(ctx context.Context, projectID int64, q meta.ListQuery) (_ []meta.ImmutableRule, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(ruleListing, q, []string{"project_id = ?"}, []any{projectID})
	if err != nil {
		return nil, 0, err
	}
	order, err := ruleListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM immutable_rules WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out, err := s.rules(ctx, `SELECT `+ruleCols+` FROM immutable_rules WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	return out, total, err
}

func (s *Store) rules(ctx context.Context, q string, args ...any) ([]meta.ImmutableRule, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.ImmutableRule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// UpdateImmutableRule implements meta.ImmutableStore.
func (s *Store) UpdateImmutableRule(ctx context.Context, r *meta.ImmutableRule) (err error) {
	row, err := encodeRule(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	var created int64
	err = s.w.QueryRowContext(ctx, s.b.bind(`UPDATE immutable_rules SET priority = ?, disabled = ?, action = ?, template = ?,
		params = ?, tag_selectors = ?, scope_selectors = ?, selector_key = ?, updated_at = ?
		WHERE id = ? AND project_id = ? RETURNING created_at`),
		r.Priority, b2i(r.Disabled), r.Action, r.Template, row.params, row.tagSelectors, row.scopeSelectors, row.key, t,
		r.ID, r.ProjectID).Scan(&created)
	switch {
	case isUniqueViolation(err):
		return meta.ErrConflict
	case err != nil:
		return notFound(err)
	}
	r.CreatedAt, r.UpdatedAt = ms2t(created), ms2t(t)
	return nil
}

// DeleteImmutableRule implements meta.ImmutableStore.
func (s *Store) DeleteImmutableRule(ctx context.Context, projectID, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM immutable_rules WHERE id = ? AND project_id = ?`, id, projectID))
}

// EnabledImmutableRules implements meta.ImmutableStore.
func (s *Store) EnabledImmutableRules(ctx context.Context, project string) (_ []meta.ImmutableRule, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return s.rules(ctx, `SELECT r.id, r.project_id, r.priority, r.disabled, r.action, r.template, r.params, r.tag_selectors,
		r.scope_selectors, r.created_at, r.updated_at FROM immutable_rules r JOIN projects p ON p.id = r.project_id
		WHERE p.name = ? AND r.disabled = 0 ORDER BY r.id`, project)
}

// setProtectedTag points a protected tag at d if it does not exist yet, and
// leaves it alone if it already points at d; pointing at another digest,
// it is refused with *meta.ImmutableTagError. The first statement inserts
// the tag or, when it exists, locks its row without changing it (ON
// CONFLICT DO UPDATE locks the row it conflicts with even when its WHERE
// is false; it waits first for a concurrent writer of the row to finish).
// So the digest read next is the committed one and stays so until this
// transaction ends: of two pushes racing to create the tag with different
// digests, the second sees the first's and is refused, on PostgreSQL as on
// SQLite (whose writers are serialized anyway).
func setProtectedTag(ctx context.Context, tx tx, repo, tag string, d digest.Digest, t int64) error {
	res, err := tx.exec(ctx, `INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repo, name) DO UPDATE SET updated_at = tags.updated_at WHERE false`, repo, tag, string(d), t)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return addTagHistory(ctx, tx, repo, tag, string(d), "set", t)
	}
	var cur string
	if err := tx.queryRow(ctx, `SELECT digest FROM tags WHERE repo = ? AND name = ?`, repo, tag).Scan(&cur); err != nil {
		if errors.Is(err, sql.ErrNoRows) { // cannot happen: the row is locked
			return errors.New("sqlstore: locked tag row vanished")
		}
		return err
	}
	if cur != string(d) {
		return &meta.ImmutableTagError{Repo: repo, Tag: tag, Digest: digest.Digest(cur)}
	}
	return nil
}

// refuseProtected returns *meta.ImmutableTagError for the first of tags
// (on digest d, being deleted) that guard protects.
func refuseProtected(repo string, d digest.Digest, tags []string, guard meta.TagGuard) error {
	if guard == nil {
		return nil
	}
	for _, tag := range tags {
		if guard(tag) {
			return &meta.ImmutableTagError{Repo: repo, Tag: tag, Digest: d, Delete: true}
		}
	}
	return nil
}
