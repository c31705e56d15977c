// Package migrate moves projects from a Harbor (or berth) or a plain OCI
// registry into a running berth, through the two Harbor APIs: it creates
// each project with its metadata and storage quota, the members whose
// users exist in berth, its labels, its tag immutability and retention
// rules, then replicates its artifacts with berth's replication engine (a
// pull-mode policy per project, run and watched). Every step skips what
// is there already, so a run can be repeated (after a failure, or to
// catch up with new pushes).
package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Endpoint is a server and the account used on it.
type Endpoint struct {
	URL, User, Password string
}

// Options configure a migration.
type Options struct {
	From Endpoint
	// FromType is "harbor" (Harbor or berth) or "docker-registry" (any OCI
	// registry: repositories grouped into projects by their first path
	// segment).
	FromType string
	// To is the berth that receives (its administrator).
	To Endpoint
	// Projects, if not empty, are the only projects moved.
	Projects []string
	// Progress receives one line per step and the replication's progress.
	Progress io.Writer
	// Poll is how often a replication's progress is read (0: 1s).
	Poll   time.Duration
	Client *http.Client
}

// ProjectReport is what happened to one project.
type ProjectReport struct {
	Name                    string
	Created                 bool
	Members, MembersSkipped int
	Labels, Immutable       int
	Retention               bool
	Repositories, Failed    int
	Status                  string // the replication's: Succeed, Failed, Stopped
}

// Report is a migration's outcome.
type Report struct {
	Projects []ProjectReport
}

// Failed reports whether any project's replication did not succeed.
func (r *Report) Failed() bool {
	for _, p := range r.Projects {
		if p.Status != "Succeed" {
			return true
		}
	}
	return false
}

type client struct {
	ep Endpoint
	hc *http.Client
}

// apiError is an API's refusal.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return 0
}

// do calls the Harbor API at path with body (JSON, nil for none) and
// decodes the answer into out (if not nil); it returns the Location.
func (c *client) do(ctx context.Context, method, path string, body, out any) (string, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.ep.URL, "/")+"/api/v2.0"+path, r)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.ep.User, c.ep.Password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return "", &apiError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s%s: %s %s", method, c.ep.URL, path, resp.Status,
			strings.TrimSpace(string(msg)))}
	}
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
			return "", fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.Header.Get("Location"), nil
}

// list reads every page of a list.
func (c *client) list(ctx context.Context, path string, each func(json.RawMessage) error) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for page := 1; page <= 1000; page++ {
		var items []json.RawMessage
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s%spage=%d&page_size=100", path, sep, page), nil, &items); err != nil {
			return err
		}
		for _, it := range items {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(items) < 100 {
			return nil
		}
	}
	return nil
}

type migration struct {
	opt      Options
	src, dst *client
	report   Report
}

func (m *migration) logf(format string, args ...any) {
	if m.opt.Progress != nil {
		fmt.Fprintf(m.opt.Progress, format+"\n", args...)
	}
}

// Run migrates.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: time.Minute}
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.FromType == "" {
		opt.FromType = "harbor"
	}
	if opt.FromType != "harbor" && opt.FromType != "docker-registry" {
		return nil, fmt.Errorf("from-type %q is not harbor or docker-registry", opt.FromType)
	}
	m := &migration{opt: opt, src: &client{ep: opt.From, hc: opt.Client}, dst: &client{ep: opt.To, hc: opt.Client}}
	regID, err := m.registry(ctx)
	if err != nil {
		return nil, fmt.Errorf("registering the source in berth: %w", err)
	}
	projects, err := m.projects(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the source's projects: %w", err)
	}
	for _, p := range projects {
		rep := ProjectReport{Name: p.Name}
		if err := m.project(ctx, p, &rep); err != nil {
			return &m.report, fmt.Errorf("project %s: %w", p.Name, err)
		}
		if err := m.replicate(ctx, regID, &rep); err != nil {
			return &m.report, fmt.Errorf("project %s: %w", p.Name, err)
		}
		m.report.Projects = append(m.report.Projects, rep)
	}
	return &m.report, nil
}

// registry is the id of berth's registry endpoint for the source (made
// once, found by name on the next runs).
func (m *migration) registry(ctx context.Context) (int64, error) {
	u, err := url.Parse(m.opt.From.URL)
	if err != nil {
		return 0, err
	}
	name := "migrate-" + strings.NewReplacer(":", "-", ".", "-").Replace(u.Host)
	var found []struct {
		ID int64 `json:"id"`
	}
	if _, err := m.dst.do(ctx, http.MethodGet, "/registries?q="+url.QueryEscape("name="+name), nil, &found); err != nil {
		return 0, err
	}
	if len(found) == 1 {
		return found[0].ID, nil
	}
	body := map[string]any{"name": name, "type": m.opt.FromType, "url": m.opt.From.URL,
		"description": "source of berth migrate",
		"credential":  map[string]any{"type": "basic", "access_key": m.opt.From.User, "access_secret": m.opt.From.Password}}
	loc, err := m.dst.do(ctx, http.MethodPost, "/registries", body, nil)
	if err != nil {
		return 0, err
	}
	var id int64
	_, err = fmt.Sscanf(loc[strings.LastIndex(loc, "/")+1:], "%d", &id)
	return id, err
}

// sourceProject is a project at the source.
type sourceProject struct {
	ID       int64             `json:"project_id"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
}

// projects are the source's projects to move.
func (m *migration) projects(ctx context.Context) ([]sourceProject, error) {
	var out []sourceProject
	if m.opt.FromType == "docker-registry" {
		reg, err := name.NewRegistry(strings.TrimPrefix(strings.TrimPrefix(m.opt.From.URL, "https://"), "http://"),
			insecure(m.opt.From.URL)...)
		if err != nil {
			return nil, err
		}
		repos, err := remote.Catalog(ctx, reg, remote.WithAuth(&authn.Basic{Username: m.opt.From.User, Password: m.opt.From.Password}))
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range repos {
			p, _, _ := strings.Cut(r, "/")
			if !seen[p] {
				seen[p] = true
				out = append(out, sourceProject{Name: p})
			}
		}
	} else {
		err := m.src.list(ctx, "/projects", func(raw json.RawMessage) error {
			var p sourceProject
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(m.opt.Projects) > 0 {
		out = slices.DeleteFunc(out, func(p sourceProject) bool { return !slices.Contains(m.opt.Projects, p.Name) })
	}
	return out, nil
}

func insecure(u string) []name.Option {
	if strings.HasPrefix(u, "http://") {
		return []name.Option{name.Insecure}
	}
	return nil
}

// project creates p in berth with its metadata, quota, members, labels
// and rules (from a harbor source), each skipped if there.
func (m *migration) project(ctx context.Context, p sourceProject, rep *ProjectReport) error {
	meta := map[string]string{"public": "false"}
	for k, v := range p.Metadata {
		if k != "retention_id" {
			meta[k] = v
		}
	}
	body := map[string]any{"project_name": p.Name, "metadata": meta}
	if m.opt.FromType == "harbor" {
		var sum struct {
			Quota *struct {
				Hard map[string]int64 `json:"hard"`
			} `json:"quota"`
		}
		if _, err := m.src.do(ctx, http.MethodGet, "/projects/"+url.PathEscape(p.Name)+"/summary", nil, &sum); err == nil &&
			sum.Quota != nil {
			if limit, ok := sum.Quota.Hard["storage"]; ok {
				body["storage_limit"] = limit
			}
		}
	}
	_, err := m.dst.do(ctx, http.MethodPost, "/projects", body, nil)
	switch {
	case err == nil:
		rep.Created = true
		m.logf("project %s: created", p.Name)
	case statusOf(err) == http.StatusConflict:
		m.logf("project %s: exists", p.Name)
	default:
		return err
	}
	if m.opt.FromType != "harbor" {
		return nil
	}
	var dst sourceProject
	if _, err := m.dst.do(ctx, http.MethodGet, "/projects/"+url.PathEscape(p.Name), nil, &dst); err != nil {
		return err
	}
	if err := m.members(ctx, p, rep); err != nil {
		return fmt.Errorf("members: %w", err)
	}
	if err := m.labels(ctx, p, dst, rep); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	if err := m.immutable(ctx, p, rep); err != nil {
		return fmt.Errorf("immutability rules: %w", err)
	}
	if err := m.retention(ctx, p, dst, rep); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// members adds the source's user members whose users exist in berth.
func (m *migration) members(ctx context.Context, p sourceProject, rep *ProjectReport) error {
	path := "/projects/" + url.PathEscape(p.Name) + "/members"
	return m.src.list(ctx, path, func(raw json.RawMessage) error {
		var mem struct {
			EntityName string `json:"entity_name"`
			EntityType string `json:"entity_type"`
			RoleID     int    `json:"role_id"`
		}
		if err := json.Unmarshal(raw, &mem); err != nil {
			return err
		}
		if mem.EntityType != "u" {
			rep.MembersSkipped++
			return nil
		}
		_, err := m.dst.do(ctx, http.MethodPost, path, map[string]any{"role_id": mem.RoleID,
			"member_user": map[string]any{"username": mem.EntityName}}, nil)
		switch st := statusOf(err); {
		case err == nil:
			rep.Members++
		case st == http.StatusConflict:
		case st == http.StatusNotFound || st == http.StatusBadRequest:
			rep.MembersSkipped++
			m.logf("project %s: member %s skipped (no such user in berth)", p.Name, mem.EntityName)
		default:
			return err
		}
		return nil
	})
}

// labels copies the project's own labels.
func (m *migration) labels(ctx context.Context, p, dst sourceProject, rep *ProjectReport) error {
	return m.src.list(ctx, fmt.Sprintf("/labels?scope=p&project_id=%d", p.ID), func(raw json.RawMessage) error {
		var l map[string]any
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		body := map[string]any{"name": l["name"], "description": l["description"], "color": l["color"], "scope": "p",
			"project_id": dst.ID}
		if _, err := m.dst.do(ctx, http.MethodPost, "/labels", body, nil); err != nil && statusOf(err) != http.StatusConflict {
			return err
		}
		rep.Labels++
		return nil
	})
}

// ruleKey identifies a tag immutability rule by what it selects.
func ruleKey(r map[string]any) string {
	b, _ := json.Marshal([]any{r["template"], r["tag_selectors"], r["scope_selectors"], r["action"]})
	return string(b)
}

// immutable copies the immutability rules berth's project lacks.
func (m *migration) immutable(ctx context.Context, p sourceProject, rep *ProjectReport) error {
	path := "/projects/" + url.PathEscape(p.Name) + "/immutabletagrules"
	have := map[string]bool{}
	if err := m.dst.list(ctx, path, func(raw json.RawMessage) error {
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		have[ruleKey(r)] = true
		return nil
	}); err != nil {
		return err
	}
	return m.src.list(ctx, path, func(raw json.RawMessage) error {
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		if have[ruleKey(r)] {
			return nil
		}
		delete(r, "id")
		delete(r, "project_id")
		if _, err := m.dst.do(ctx, http.MethodPost, path, r, nil); err != nil {
			return err
		}
		rep.Immutable++
		return nil
	})
}

// retention copies the project's retention policy, unless berth's
// project has one.
func (m *migration) retention(ctx context.Context, p, dst sourceProject, rep *ProjectReport) error {
	id := p.Metadata["retention_id"]
	if id == "" || dst.Metadata["retention_id"] != "" {
		return nil
	}
	var pol map[string]any
	if _, err := m.src.do(ctx, http.MethodGet, "/retentions/"+url.PathEscape(id), nil, &pol); err != nil {
		return err
	}
	delete(pol, "id")
	pol["scope"] = map[string]any{"level": "project", "ref": dst.ID}
	if _, err := m.dst.do(ctx, http.MethodPost, "/retentions", pol, nil); err != nil {
		return err
	}
	rep.Retention = true
	return nil
}

// replicate runs (creating it the first time) the project's pull-mode
// policy and follows it to its end.
func (m *migration) replicate(ctx context.Context, regID int64, rep *ProjectReport) error {
	name := "migrate-" + rep.Name
	var found []struct {
		ID int64 `json:"id"`
	}
	if _, err := m.dst.do(ctx, http.MethodGet, "/replication/policies?q="+url.QueryEscape("name="+name), nil, &found); err != nil {
		return err
	}
	var id int64
	if len(found) == 1 {
		id = found[0].ID
	} else {
		zero := 0
		body := map[string]any{"name": name, "description": "berth migrate", "src_registry": map[string]any{"id": regID},
			"dest_namespace": "", "dest_namespace_replace_count": zero, "override": true, "enabled": true,
			"trigger": map[string]any{"type": "manual"}, "filters": []any{map[string]any{"type": "name", "value": rep.Name + "/**"}}}
		loc, err := m.dst.do(ctx, http.MethodPost, "/replication/policies", body, nil)
		if err != nil {
			return err
		}
		if _, err := fmt.Sscanf(loc[strings.LastIndex(loc, "/")+1:], "%d", &id); err != nil {
			return err
		}
	}
	loc, err := m.dst.do(ctx, http.MethodPost, "/replication/executions", map[string]any{"policy_id": id}, nil)
	if err != nil {
		return err
	}
	exec := loc[strings.LastIndex(loc, "/")+1:]
	for {
		var x struct {
			Status  string `json:"status"`
			Total   int    `json:"total"`
			Succeed int    `json:"succeed"`
			Failed  int    `json:"failed"`
		}
		if _, err := m.dst.do(ctx, http.MethodGet, "/replication/executions/"+exec, nil, &x); err != nil {
			return err
		}
		m.logf("project %s: [%s] %d/%d repositories copied, %d failed", rep.Name, bar(x.Succeed+x.Failed, x.Total),
			x.Succeed, x.Total, x.Failed)
		if x.Status != "InProgress" {
			rep.Status, rep.Repositories, rep.Failed = x.Status, x.Total, x.Failed
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(m.opt.Poll):
		}
	}
}

// bar is a 20-character progress bar.
func bar(done, total int) string {
	n := 20
	if total > 0 {
		n = 20 * done / total
	}
	return strings.Repeat("#", n) + strings.Repeat(".", 20-n)
}
