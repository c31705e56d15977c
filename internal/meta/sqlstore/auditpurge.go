package sqlstore

import (
	"context"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.AuditPurger = (*Store)(nil)

// auditPurgeWhere is the condition of p on audit_log, with its arguments.
func auditPurgeWhere(p meta.AuditPurge) (string, []any) {
	marks := func(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
	event := `operation || '_' || resource_type`
	var ors []string
	args := []any{p.Before.UnixMilli()}
	if len(p.EventTypes) > 0 {
		ors = append(ors, event+` IN (`+marks(len(p.EventTypes))+`)`)
		for _, e := range p.EventTypes {
			args = append(args, e)
		}
	}
	if len(p.Operations) > 0 {
		ors = append(ors, `operation IN (`+marks(len(p.Operations))+`)`)
		for _, o := range p.Operations {
			args = append(args, o)
		}
	}
	if p.Others {
		if len(p.NotOthers) == 0 {
			ors = append(ors, `1 = 1`)
		} else {
			ors = append(ors, event+` NOT IN (`+marks(len(p.NotOthers))+`)`)
			for _, e := range p.NotOthers {
				args = append(args, e)
			}
		}
	}
	if len(ors) == 0 {
		return `1 = 0`, nil
	}
	return `at < ? AND (` + strings.Join(ors, " OR ") + `)`, args
}

// PurgeAudit implements meta.AuditPurger: one batch, by id, so that the
// statement stays short and other writers wait little.
func (s *Store) PurgeAudit(ctx context.Context, p meta.AuditPurge, limit int) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if p.Empty() || limit <= 0 {
		return 0, nil
	}
	cond, args := auditPurgeWhere(p)
	res, err := s.exec(ctx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE `+cond+` ORDER BY at, id LIMIT ?)`,
		append(args, limit)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CountAudit implements meta.AuditPurger.
func (s *Store) CountAudit(ctx context.Context, p meta.AuditPurge) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if p.Empty() {
		return 0, nil
	}
	cond, args := auditPurgeWhere(p)
	var n int64
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE `+cond, args...).Scan(&n)
	return n, err
}
