package app

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/sign"
)

// setupSigning starts the signature policies (internal/sign): the
// projects' policies are read now and refreshed until ctx ends.
func setupSigning(ctx context.Context, store *sqlstore.Store, blobs blob.Store, acc *access, log *slog.Logger) (*sign.Checker, error) {
	c := sign.New(sign.Options{Store: store, Blobs: blobs, Audit: acc.sink.Record, Logger: log})
	if err := c.Refresh(ctx); err != nil {
		return nil, err
	}
	go c.Run(ctx)
	acc.signing = c
	return c, nil
}

// signPolicy is the registry's PullPolicy over the checker.
type signPolicy struct {
	c   *sign.Checker
	acc *access
}

// CheckPull implements registry.PullPolicy. A pull from a project without
// a policy returns at the first line, allocating nothing.
func (p signPolicy) CheckPull(req *http.Request, repo string, m *meta.Manifest) error {
	if !p.c.Guards(repo) {
		return nil
	}
	return p.c.CheckPull(req.Context(), sign.Pull{Repo: repo, Manifest: m, Remote: req.RemoteAddr,
		Signer: func() bool { return signingClient(req) && p.canPush(req, repo) }})
}

// signingClient: a cosign or notation client (Harbor's bypass reads the
// User-Agent too; together with push permission, which lets the caller
// push anything anyway).
func signingClient(req *http.Request) bool {
	ua := strings.ToLower(req.UserAgent())
	return strings.Contains(ua, "cosign") || strings.Contains(ua, "notation")
}

func (p signPolicy) canPush(req *http.Request, repo string) bool {
	if p.acc.gate == nil {
		return true // no access control: anyone may push
	}
	return p.acc.gate.CanPush(req, repo)
}

// signingAccess is the API's access store, re-reading the signature
// policies as soon as the API changes a project's metadata here (other
// replicas notice within the checker's refresh interval).
type signingAccess struct {
	meta.AccessStore
	c *sign.Checker
}

func (s signingAccess) refreshed(ctx context.Context, err error) error {
	if err == nil {
		if rerr := s.c.Refresh(ctx); rerr != nil {
			slog.WarnContext(ctx, "refreshing signature policies", "err", rerr)
		}
	}
	return err
}

func (s signingAccess) CreateProjectWith(ctx context.Context, p *meta.Project, c meta.ProjectChange) error {
	return s.refreshed(ctx, s.AccessStore.CreateProjectWith(ctx, p, c))
}

func (s signingAccess) ChangeProject(ctx context.Context, id int64, c meta.ProjectChange) error {
	return s.refreshed(ctx, s.AccessStore.ChangeProject(ctx, id, c))
}

func (s signingAccess) DeleteProjectMetadata(ctx context.Context, id int64, name string) error {
	return s.refreshed(ctx, s.AccessStore.DeleteProjectMetadata(ctx, id, name))
}
