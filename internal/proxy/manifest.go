package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Manifest resolves ref (a tag or a digest) in repo, a repository of a
// proxy-cache project: a digest cached is served at once; a tag is checked
// against the upstream's current digest; what is missing or out of date is
// fetched, stored with its original bytes and returned (with its body,
// whatever withBody says). When the upstream fails, the cached copy is the
// answer if there is one.
func (e *Engine) Manifest(ctx context.Context, repo, ref string, withBody bool) (*meta.Manifest, error) {
	p := e.lookup(repo)
	if p == nil { // no longer a proxy project
		return e.opt.Meta.GetManifest(ctx, repo, ref, withBody)
	}
	if !p.match(repo) {
		return nil, meta.ErrManifestNotFound
	}
	local, err := e.opt.Meta.GetManifest(ctx, repo, ref, withBody)
	if err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
		return nil, err
	}
	isDigest := oci.IsDigest(ref)
	if local != nil && isDigest {
		return local, nil
	}
	c, err := e.client(ctx, p)
	if err != nil {
		return e.stale(ctx, local, ref, err)
	}
	urepo, err := c.repo(p, repo)
	if err != nil {
		return nil, meta.ErrManifestNotFound
	}
	d, tag := digest.Digest(ref), ""
	if !isDigest {
		tag = ref
		if local != nil && e.recent(repo, tag) {
			return local, nil
		}
		release, ok := p.acquire()
		if !ok {
			return e.stale(ctx, local, ref, errTooManyConns)
		}
		// With a cached copy to fall back on, a silent upstream is given
		// a quarter of the bound: the client gets the copy sooner.
		wait := e.opt.Timeout
		if local != nil {
			wait = min(max(wait/4, 250*time.Millisecond), wait)
		}
		hctx, cancel := context.WithTimeout(ctx, wait)
		desc, err := c.puller.Head(hctx, urepo.Tag(tag))
		cancel()
		release()
		switch {
		case upstreamStatus(err) == http.StatusNotFound:
			// Gone upstream: Harbor's answer is 404 unless the project
			// says to keep serving the cached copy.
			if local != nil && p.localOnNotFound {
				return local, nil
			}
			return nil, meta.ErrManifestNotFound
		case err != nil:
			return e.stale(ctx, local, ref, err)
		}
		d = digest.Digest(desc.Digest.String())
		if local != nil && local.Digest == d {
			e.confirmed(repo, tag)
			return local, nil
		}
	}
	m, err := e.fetchManifest(ctx, p, c, repo, d, tag)
	if err != nil {
		if upstreamStatus(err) == http.StatusNotFound {
			return nil, meta.ErrManifestNotFound
		}
		return e.stale(ctx, local, ref, err)
	}
	if tag != "" {
		e.confirmed(repo, tag)
	}
	return m, nil
}

// stale answers with the cached copy when the upstream failed, or with an
// error saying that ref is not cached and why the upstream did not help.
func (e *Engine) stale(ctx context.Context, local *meta.Manifest, ref string, err error) (*meta.Manifest, error) {
	if local != nil {
		e.log.InfoContext(ctx, "proxy cache: upstream failed, serving the cached copy", "ref", ref, "err", err)
		return local, nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return nil, pe
	}
	return nil, errUpstream("manifest "+ref, err)
}

// fetchManifest gets manifest d from the upstream, checks its digest and
// stores it with its original bytes, tagged tag (if not ""). Concurrent
// fetches of the same manifest share one upstream request.
func (e *Engine) fetchManifest(ctx context.Context, p *project, c *upstream, repo string, d digest.Digest, tag string) (*meta.Manifest, error) {
	if err := d.Validate(); err != nil {
		return nil, meta.ErrManifestNotFound
	}
	v, err, _ := e.flight.Do("m\x00"+repo+"\x00"+string(d)+"\x00"+tag, func() (any, error) {
		// The content may be here already (the tag moved back, or another
		// tag points at it): only the tag is set.
		if m, err := e.opt.Meta.GetManifest(ctx, repo, string(d), true); err == nil {
			if tag != "" {
				err = e.opt.Meta.PutProxyManifest(ctx, &meta.Manifest{Repo: repo, Digest: m.Digest, MediaType: m.MediaType, Size: m.Size, Body: m.Body}, []string{tag})
			}
			return m, err
		}
		urepo, err := c.repo(p, repo)
		if err != nil {
			return nil, err
		}
		release, ok := p.acquire()
		if !ok {
			return nil, errTooManyConns
		}
		defer release()
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opt.Timeout)
		defer cancel()
		desc, err := c.puller.Get(gctx, urepo.Digest(string(d)))
		if err != nil {
			return nil, err
		}
		body := desc.Manifest
		if got := d.Algorithm().FromBytes(body); got != d {
			return nil, &Error{Code: "MANIFEST_INVALID", Status: http.StatusBadGateway,
				Message: "proxy cache: the upstream's manifest has digest " + string(got) + ", not " + string(d)}
		}
		parsed, err := oci.ParseManifest(string(desc.MediaType), body)
		if err != nil {
			return nil, &Error{Code: "MANIFEST_INVALID", Status: http.StatusBadGateway, Message: "proxy cache: upstream manifest: " + err.Error()}
		}
		m := &meta.Manifest{Repo: repo, Digest: d, MediaType: parsed.MediaType, Size: int64(len(body)), Body: body,
			ArtifactType: parsed.ArtifactType, Annotations: parsed.Annotations, Refs: parsed.Refs}
		if parsed.Subject != nil {
			m.Subject = parsed.Subject.Digest
		}
		var tags []string
		if tag != "" {
			tags = []string{tag}
		}
		if err := e.opt.Meta.PutProxyManifest(context.WithoutCancel(ctx), m, tags); err != nil {
			// Served all the same (the client asked for it); only not kept,
			// e.g. past the project's quota.
			e.log.WarnContext(ctx, "proxy cache: manifest not stored", "repo", repo, "digest", d, "err", err)
		}
		m.Refs = nil
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*meta.Manifest), nil
}
