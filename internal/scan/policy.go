package scan

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pullstats"
)

// PolicyRefresh is how often the pull check re-reads which projects have
// prevent_vul: a pull from any other project costs no query.
const PolicyRefresh = 2 * time.Second

// PolicyStore is what the pull check reads.
type PolicyStore interface {
	meta.ScanStore
	ProjectSettings(ctx context.Context, ids ...int64) (map[int64]*meta.ProjectSettings, error)
}

// Policy is Harbor's "prevent vulnerable images from running" for
// manifest GETs (never HEAD, as Harbor: a HEAD does not fetch the image).
type Policy struct {
	Store PolicyStore
	Log   *slog.Logger
	// Audit records each pull refused; the caller is the one of ctx.
	Audit func(ctx context.Context, rec meta.AuditRecord)
	// BlockUnscanned refuses artifacts never scanned successfully (Harbor
	// allows those that are not scannable and refuses the others; berth
	// allows by default, and never refuses a digest that was clean while
	// it is being scanned again).
	BlockUnscanned bool

	projects atomic.Pointer[map[string]meta.PullPolicy]
}

// Refresh re-reads the projects with prevent_vul.
func (p *Policy) Refresh(ctx context.Context) error {
	m, err := p.Store.PullPolicies(ctx)
	if err != nil {
		return err
	}
	p.projects.Store(&m)
	return nil
}

// Run refreshes every PolicyRefresh until ctx ends.
func (p *Policy) Run(ctx context.Context) {
	t := time.NewTicker(PolicyRefresh)
	defer t.Stop()
	for {
		if err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("reading the projects' pull policies", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// severityRank is Harbor's order (src/pkg/scan/vuln/severity.go); an
// unknown name ranks 99, so it fails closed.
func severityRank(s string) int {
	switch strings.ToLower(s) {
	case "none", "unknown":
		return 0
	case "negligible":
		return 1
	case "low":
		return 2
	case "medium":
		return 3
	case "high":
		return 4
	case "critical":
		return 5
	}
	return 99
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// CheckPull returns the message of a refusal (Harbor's text) for a GET of
// repo's manifest m, "" to allow it. berth's own jobs (events.IsInternal,
// pullstats.Uncounted contexts), accessories (signatures, SBOMs) and
// indexes (their children are checked when pulled) pass.
func (p *Policy) CheckPull(ctx context.Context, repo string, m *meta.Manifest) (string, error) {
	all := p.projects.Load()
	if all == nil {
		return "", nil
	}
	pp, ok := (*all)[events.ProjectOf(repo)]
	if !ok || events.IsInternal(ctx) || pullstats.IsUncounted(ctx) || m.Subject != "" || !Scannable(m) || isIndex(m) {
		return "", nil
	}
	sev := pp.Metadata["severity"]
	if sev == "" {
		sev = "low"
	}
	rule := fmt.Sprintf(`Prevent images with vulnerability severity of "%s" or higher from running.`, title(sev))
	rs, err := p.Store.ScanReports(ctx, []digest.Digest{m.Digest})
	if err != nil {
		return "", err
	}
	r := rs[m.Digest]
	msg := ""
	switch {
	case r == nil || !r.HasResult:
		if !p.BlockUnscanned {
			return "", nil
		}
		if r != nil && r.Status != "" {
			msg = fmt.Sprintf(`current image with "%s" status of vulnerability scanning cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator for help.`, r.Status, rule)
		} else {
			msg = fmt.Sprintf(`current image without vulnerability scanning cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator for help.`, rule)
		}
	default:
		allow, err := p.allowlist(ctx, pp)
		if err != nil {
			return "", err
		}
		count, top := 0, -1
		for _, f := range Findings(r) {
			if slices.Contains(allow, f.ID) {
				continue
			}
			count++
			top = max(top, severityRank(HarborSeverity(f.Severity)))
		}
		if count == 0 || top < severityRank(sev) {
			return "", nil
		}
		msg = fmt.Sprintf(`current image with %d vulnerabilities cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist.`, count, rule)
	}
	if p.Audit != nil {
		p.Audit(ctx, meta.AuditRecord{Operation: "pull", ResourceType: "artifact",
			Resource: repo + "@" + string(m.Digest) + " refused by prevent_vul", ProjectID: pp.ProjectID, Project: events.ProjectOf(repo)})
	}
	return msg, nil
}

// allowlist is the CVE ids a project's policy ignores: the system list
// with reuse_sys_cve_allowlist, else the project's; an expired list
// counts for nothing.
func (p *Policy) allowlist(ctx context.Context, pp meta.PullPolicy) ([]string, error) {
	var l meta.CVEAllowlist
	if pp.Metadata["reuse_sys_cve_allowlist"] == "true" {
		var err error
		if l, err = p.Store.SystemCVEAllowlist(ctx); err != nil {
			return nil, err
		}
	} else {
		set, err := p.Store.ProjectSettings(ctx, pp.ProjectID)
		if err != nil {
			return nil, err
		}
		if s := set[pp.ProjectID]; s != nil {
			l = s.CVEAllowlist
		}
	}
	return ActiveItems(l, time.Now()), nil
}

// ActiveItems is the list's CVE ids, or none once it expired.
func ActiveItems(l meta.CVEAllowlist, now time.Time) []string {
	if l.ExpiresAt != nil && *l.ExpiresAt > 0 && now.Unix() >= *l.ExpiresAt {
		return nil
	}
	return l.Items
}

func isIndex(m *meta.Manifest) bool {
	return m.MediaType == "application/vnd.oci.image.index.v1+json" ||
		m.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}
