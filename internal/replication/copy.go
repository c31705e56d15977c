package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// plan lists the source's repositories and artifacts that pass p's
// filters, one task per repository.
func (e *Engine) plan(ctx context.Context, run *jobs.Run, p *Policy, src *side) ([]TaskAttrs, error) {
	var repos []string
	if src.local {
		infos, _, err := e.Local.Catalog.AllRepositories(ctx, meta.RepoQuery{All: true,
			ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}}})
		if err != nil {
			return nil, err
		}
		for _, r := range infos {
			repos = append(repos, r.Name)
		}
	} else {
		var err error
		if repos, err = src.rm.Repositories(ctx, []string{p.stringFilter(FilterName)}); err != nil {
			return nil, fmt.Errorf("listing the source's repositories: %w", err)
		}
	}
	var plan []TaskAttrs
	for _, repo := range repos {
		if !p.MatchRepo(repo) {
			continue
		}
		var items []item
		var err error
		switch {
		case src.local:
			items, err = e.localItems(ctx, p, repo)
		case src.rm.Registry.Type == TypeHarbor:
			items, err = harborItems(ctx, p, src.rm, repo)
		default:
			items, err = remoteItems(ctx, p, src.rm, repo)
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", repo, err)
		}
		if len(items) == 0 {
			continue
		}
		if err := attachAccessories(ctx, src.rm, repo, items); err != nil {
			return nil, fmt.Errorf("listing %s: %w", repo, err)
		}
		dstRepo, err := DestRepo(repo, p.DestNamespace, p.replaceCount())
		if err != nil {
			return nil, err
		}
		a := TaskAttrs{Operation: "copy", ResourceType: ResourceImage, SrcRepo: repo, DstRepo: dstRepo, Items: items}
		if p.stringFilter(FilterResource) == ResourceArtifact {
			a.ResourceType = ResourceArtifact
		}
		a.describe()
		plan = append(plan, a)
	}
	run.Log("%d of %d source repositories have artifacts to copy", len(plan), len(repos))
	return plan, nil
}

// attachAccessories records, for each item, the cosign accessory tags of
// its digest among repo's tags (one tag listing: in process for berth).
func attachAccessories(ctx context.Context, rm *Remote, repo string, items []item) error {
	tags, err := rm.Tags(ctx, repo)
	if err != nil {
		return err
	}
	byDigest := map[string][]string{}
	for _, t := range tags {
		if subject, ok := accessorySubject(t); ok {
			byDigest[subject] = append(byDigest[subject], t)
		}
	}
	for i := range items {
		items[i].Listed, items[i].Accessories = true, byDigest[items[i].Digest]
	}
	return nil
}

// selectTags is the tags of an artifact that pass the tag filter, and
// whether the artifact goes at all (an untagged one goes only without a
// tag filter).
func selectTags(p *Policy, tags []string) ([]string, bool) {
	var out []string
	for _, t := range tags {
		if !isAccessoryTag(t) && p.MatchTag(t) {
			out = append(out, t)
		}
	}
	if len(tags) == 0 {
		return nil, p.filter(FilterTag) == nil
	}
	return out, len(out) > 0
}

var imageConfigTypes = []string{string(types.OCIConfigJSON), string(types.DockerConfigJSON)}

// localItems are berth's top-level artifacts of repo that pass p.
func (e *Engine) localItems(ctx context.Context, p *Policy, repo string) ([]item, error) {
	arts, _, err := e.Local.Catalog.Artifacts(ctx, repo, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}})
	if err != nil {
		return nil, err
	}
	var labels map[digest.Digest][]meta.Label
	if p.filter(FilterLabel) != nil {
		ds := make([]digest.Digest, len(arts))
		for i := range arts {
			ds[i] = arts[i].Digest
		}
		if labels, err = e.Local.Catalog.ArtifactLabels(ctx, repo, ds); err != nil {
			return nil, err
		}
	}
	var items []item
	for _, a := range arts {
		names := make([]string, 0, len(a.Tags))
		for _, t := range a.Tags {
			names = append(names, t.Name)
		}
		tags, ok := selectTags(p, names)
		if !ok {
			continue
		}
		var ls []string
		for _, l := range labels[a.Digest] {
			ls = append(ls, l.Name)
		}
		isImage := types.MediaType(a.MediaType).IsIndex() || slices.Contains(imageConfigTypes, a.ArtifactType)
		if !p.MatchLabels(ls) || !p.MatchResource(isImage) {
			continue
		}
		items = append(items, item{Digest: a.Digest.String(), Tags: tags})
	}
	return items, nil
}

// remoteItems are the tagged artifacts of repo at a remote registry that
// pass p: its tags, each resolved with a HEAD (paced by the registry's
// rate limit), grouped by digest.
func remoteItems(ctx context.Context, p *Policy, rm *Remote, repo string) ([]item, error) {
	all, err := rm.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	ref, err := rm.Repository(repo)
	if err != nil {
		return nil, err
	}
	byDigest := map[string]int{}
	var items []item
	for _, tag := range all {
		if isAccessoryTag(tag) || !p.MatchTag(tag) {
			continue
		}
		d, err := remote.Head(ref.Tag(tag), rm.Options(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w", repo, tag, err)
		}
		if i, ok := byDigest[d.Digest.String()]; ok {
			items[i].Tags = append(items[i].Tags, tag)
			continue
		}
		if !p.MatchResource(d.MediaType.IsIndex() || d.MediaType.IsImage()) {
			continue
		}
		byDigest[d.Digest.String()] = len(items)
		items = append(items, item{Digest: d.Digest.String(), Tags: []string{tag}})
	}
	return items, nil
}

// harborItems are the artifacts of repo at a harbor registry that pass
// p, listed through its API (tags and labels included: no request per
// tag, and the label filter applies).
func harborItems(ctx context.Context, p *Policy, rm *Remote, repo string) ([]item, error) {
	project, rest, _ := strings.Cut(repo, "/")
	var items []item
	for page := 1; len(items) < maxListed; page++ {
		var arts []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"media_type"`
			Type      string `json:"type"`
			Tags      []struct {
				Name string `json:"name"`
			} `json:"tags"`
			Labels []struct {
				Name string `json:"name"`
			} `json:"labels"`
		}
		path := fmt.Sprintf("/api/v2.0/projects/%s/repositories/%s/artifacts?with_tag=true&with_label=true&page=%d&page_size=100",
			url.PathEscape(project), url.PathEscape(url.PathEscape(rest)), page)
		if err := rm.harborGet(ctx, path, &arts); err != nil {
			return nil, err
		}
		for _, a := range arts {
			var names, labels []string
			for _, t := range a.Tags {
				names = append(names, t.Name)
			}
			for _, l := range a.Labels {
				labels = append(labels, l.Name)
			}
			tags, ok := selectTags(p, names)
			if !ok || !p.MatchLabels(labels) || !p.MatchResource(a.Type == "IMAGE") {
				continue
			}
			items = append(items, item{Digest: a.Digest, Tags: tags})
		}
		if len(arts) < 100 {
			break
		}
	}
	return items, nil
}

// copyTask copies (or deletes) a task's artifacts.
func (e *Engine) copyTask(ctx context.Context, run *jobs.Run, p *Policy, src, dst *side, t *meta.Task, a *TaskAttrs) error {
	srcRepo, err := src.rm.Repository(a.SrcRepo)
	if err != nil {
		return err
	}
	dstRepo, err := dst.rm.Repository(a.DstRepo)
	if err != nil {
		return err
	}
	if a.Operation == "deletion" {
		return e.deleteItems(ctx, run, dst, dstRepo, t, a)
	}
	if err := e.ensureProject(ctx, dst, a.DstRepo); err != nil {
		return fmt.Errorf("creating the destination project: %w", err)
	}
	srcRM := *src.rm
	if p.Speed > 0 {
		srcRM.Transport = &throttled{base: src.rm.Transport, bytesPerSec: int64(p.Speed) * 1024}
	}
	c := &copier{ctx: ctx, src: &srcRM, dst: dst.rm, p: p, log: func(format string, args ...any) {
		taskLog(ctx, run, t, format, args...)
	}}
	for _, it := range a.Items {
		if err := c.copyItem(srcRepo, dstRepo, it); err != nil {
			return fmt.Errorf("%s@%s: %w", a.SrcRepo, it.Digest, err)
		}
	}
	return nil
}

// copier copies artifacts from one registry to another.
type copier struct {
	ctx      context.Context
	src, dst *Remote
	p        *Policy
	log      func(format string, args ...any)
}

// copyItem copies one top-level artifact: its manifest (an index with all
// its children), its blobs the destination lacks, its accessories, then
// its tags (so a tag never shows content still arriving).
func (c *copier) copyItem(srcRepo, dstRepo name.Repository, it item) error {
	var ref name.Reference = srcRepo.Digest(it.Digest)
	if it.Digest == "" {
		if len(it.Tags) == 0 {
			return errors.New("neither digest nor tag")
		}
		ref = srcRepo.Tag(it.Tags[0])
	}
	desc, err := remote.Get(ref, c.src.Options(c.ctx)...)
	if err != nil {
		return err
	}
	var top remote.Taggable = desc
	d := desc.Digest
	if pl := c.p.Platforms(); pl != nil && desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		keep, err := platformMatcher(pl)
		if err != nil {
			return err
		}
		trimmed := mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return !keep(d) })
		if d, err = trimmed.Digest(); err != nil {
			return err
		}
		top = trimmed
		c.log("%s: index trimmed to platforms %s: %s", desc.Digest, strings.Join(pl, ","), d)
	}
	// The tags to set: all, or with override off those the destination
	// does not have (one on another digest is left as it is).
	var tags []string
	for _, tag := range it.Tags {
		if !c.p.Override {
			if h, err := remote.Head(dstRepo.Tag(tag), c.dst.Options(c.ctx)...); err == nil {
				if h.Digest != d {
					c.log("tag %s: at %s on the destination; override is off: left as it is", tag, h.Digest)
				}
				continue
			}
		}
		tags = append(tags, tag)
	}
	if h, err := remote.Head(dstRepo.Digest(d.String()), c.dst.Options(c.ctx)...); err == nil && h.Digest == d {
		c.log("%s: present at the destination", d)
	} else {
		// Pushed by its first tag, if any: the manifest goes last, after
		// every blob and child, so the tag never shows partial content.
		var to name.Reference = dstRepo.Digest(d.String())
		if len(tags) > 0 {
			to, tags = dstRepo.Tag(tags[0]), tags[1:]
		}
		start := time.Now()
		if err := remote.Push(to, top, c.dst.Options(c.ctx)...); err != nil {
			return err
		}
		c.log("%s: copied to %s in %s", d, to, time.Since(start).Round(time.Millisecond))
		if to.Identifier() != d.String() {
			c.log("tag %s -> %s", to.Identifier(), d)
		}
	}
	if d == desc.Digest {
		if err := c.copyAccessories(srcRepo, dstRepo, desc.Digest, it, 0); err != nil {
			return fmt.Errorf("accessories: %w", err)
		}
	}
	for _, tag := range tags {
		if err := remote.Tag(dstRepo.Tag(tag), top, c.dst.Options(c.ctx)...); err != nil {
			return fmt.Errorf("tag %s: %w", tag, err)
		}
		c.log("tag %s -> %s", tag, d)
	}
	return nil
}

// maxAccessoryDepth bounds accessories of accessories (a signature of an
// SBOM).
const maxAccessoryDepth = 3

// copyAccessories copies what is attached to subject: its referrers
// (OCI 1.1 subject) and its cosign tag-scheme signatures, attestations
// and SBOMs, digests unchanged.
func (c *copier) copyAccessories(srcRepo, dstRepo name.Repository, subject v1.Hash, it item, depth int) error {
	if depth >= maxAccessoryDepth {
		return nil
	}
	var found []v1.Hash
	idx, err := remote.Referrers(srcRepo.Digest(subject.String()), c.src.Options(c.ctx)...)
	if err == nil {
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, r := range m.Manifests {
			found = append(found, r.Digest)
		}
	}
	candidates := it.Accessories
	if !it.Listed || depth > 0 {
		candidates = nil
		for _, suffix := range []string{".sig", ".att", ".sbom"} {
			candidates = append(candidates, subject.Algorithm+"-"+subject.Hex+suffix)
		}
	}
	for _, name := range candidates {
		tag := srcRepo.Tag(name)
		desc, err := remote.Get(tag, c.src.Options(c.ctx)...)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return err
		}
		if err := c.push(dstRepo, desc); err != nil {
			return err
		}
		if err := remote.Tag(dstRepo.Tag(tag.TagStr()), desc, c.dst.Options(c.ctx)...); err != nil {
			return err
		}
		c.log("accessory %s -> %s", tag.TagStr(), desc.Digest)
	}
	for _, d := range found {
		desc, err := remote.Get(srcRepo.Digest(d.String()), c.src.Options(c.ctx)...)
		if err != nil {
			return err
		}
		if err := c.push(dstRepo, desc); err != nil {
			return err
		}
		c.log("accessory (referrer) %s of %s", d, subject)
		if err := c.copyAccessories(srcRepo, dstRepo, d, item{}, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// push writes desc at the destination by digest unless it is there.
func (c *copier) push(dstRepo name.Repository, desc *remote.Descriptor) error {
	ref := dstRepo.Digest(desc.Digest.String())
	if h, err := remote.Head(ref, c.dst.Options(c.ctx)...); err == nil && h.Digest == desc.Digest {
		return nil
	}
	return remote.Push(ref, desc, c.dst.Options(c.ctx)...)
}

// isNotFound reports a registry's 404.
func isNotFound(err error) bool {
	var te *transport.Error
	var he *HTTPError
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound || errors.As(err, &he) && he.Status == http.StatusNotFound
}

// platformMatcher matches index children of the platforms
// ("os/arch[/variant]").
func platformMatcher(list []string) (func(v1.Descriptor) bool, error) {
	var want []v1.Platform
	for _, s := range list {
		pl, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		want = append(want, *pl)
	}
	return func(d v1.Descriptor) bool {
		if d.Platform == nil {
			return false
		}
		for _, w := range want {
			if d.Platform.Satisfies(w) {
				return true
			}
		}
		return false
	}, nil
}

// deleteItems removes an event's artifact (or tags) at the destination.
func (e *Engine) deleteItems(ctx context.Context, run *jobs.Run, dst *side, dstRepo name.Repository, t *meta.Task, a *TaskAttrs) error {
	for _, it := range a.Items {
		var refs []name.Reference
		if it.Digest != "" {
			refs = append(refs, dstRepo.Digest(it.Digest))
		} else {
			for _, tag := range it.Tags {
				refs = append(refs, dstRepo.Tag(tag))
			}
		}
		for _, ref := range refs {
			err := remote.Delete(ref, dst.rm.Options(ctx)...)
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting %s: %w", ref, err)
			}
			taskLog(ctx, run, t, "deleted %s", ref)
		}
	}
	return nil
}

// ensureProject creates the project a destination repository needs: in
// berth (pull mode) or in a harbor registry (push mode).
func (e *Engine) ensureProject(ctx context.Context, dst *side, repo string) error {
	project, _, _ := strings.Cut(repo, "/")
	switch {
	case dst.local:
		if e.Local.EnsureProject == nil {
			return nil
		}
		return e.Local.EnsureProject(ctx, project)
	case dst.rm.Registry.Type == TypeHarbor:
		body := fmt.Sprintf(`{"project_name":%q,"metadata":{"public":"false"}}`, project)
		_, err := dst.rm.harborDo(ctx, http.MethodPost, "/api/v2.0/projects", strings.NewReader(body), nil)
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusConflict {
			return nil
		}
		return err
	}
	return nil
}

// throttled bounds the bytes per second read from response bodies (a
// policy's speed, per task).
type throttled struct {
	base        http.RoundTripper
	bytesPerSec int64
}

func (t *throttled) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &slowBody{ReadCloser: resp.Body, rate: t.bytesPerSec, start: time.Now(), ctx: req.Context()}
	return resp, nil
}

type slowBody struct {
	io.ReadCloser
	rate  int64
	start time.Time
	read  int64
	ctx   context.Context
}

func (b *slowBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.rate {
		p = p[:max(b.rate, 1)]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if due := time.Duration(float64(b.read) / float64(b.rate) * float64(time.Second)); due > time.Since(b.start) {
		select {
		case <-time.After(due - time.Since(b.start)):
		case <-b.ctx.Done():
			return n, b.ctx.Err()
		}
	}
	return n, err
}
