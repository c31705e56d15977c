package gc

import (
	"context"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// manifestRef names a manifest.
type manifestRef struct {
	Repo   string
	Digest digest.Digest
}

// plan is what the mark phase found to be garbage.
type plan struct {
	// manifests in deletion order: indexes before their children, subjects
	// before their accessories.
	manifests []manifestRef
	links     []meta.GCLink
	blobs     []meta.GCBlob
	bytes     int64
	// pending counts byte deletions queued by earlier runs.
	pending int
}

// maxDetails bounds the items a run's log lists of each kind.
const maxDetails = 1000

func (p *plan) logDetails(logf Logf) {
	for i, m := range p.manifests {
		if i == maxDetails {
			logf("... and %d more manifests", len(p.manifests)-i)
			break
		}
		logf("manifest %s@%s", m.Repo, m.Digest)
	}
	for i, b := range p.blobs {
		if i == maxDetails {
			logf("... and %d more blobs", len(p.blobs)-i)
			break
		}
		logf("blob %s (%d bytes)", b.Digest, b.Size)
	}
}

// mark computes the plan from the store as it reads it.
func (c *Collector) mark(ctx context.Context, p Params, before time.Time) (*plan, error) {
	pl := &plan{}
	var viaManifests []meta.GCLink
	if p.DeleteUntagged {
		err := c.Meta.GCManifests(ctx, func(repo string, ms []meta.GCManifest) error {
			garbage := untaggedGarbage(ms, before)
			if len(garbage) == 0 {
				return nil
			}
			for _, d := range garbage {
				pl.manifests = append(pl.manifests, manifestRef{Repo: repo, Digest: d})
			}
			links, err := c.orphanedBy(ctx, repo, garbage, before)
			viaManifests = append(viaManifests, links...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	err := c.Meta.GCUnreferencedLinks(ctx, before, func(l meta.GCLink) error {
		pl.links = append(pl.links, l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	pl.links = append(pl.links, viaManifests...)
	if err := c.markBlobs(ctx, pl); err != nil {
		return nil, err
	}
	for after := digest.Digest(""); ; {
		page, err := c.Meta.GCPendingDeletions(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		pl.pending += len(page)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Digest
	}
	return pl, nil
}

// markBlobs adds to pl the blobs no repository links, and those whose
// every link is in pl.links.
func (c *Collector) markBlobs(ctx context.Context, pl *plan) error {
	seen := map[digest.Digest]bool{}
	add := func(b meta.GCBlob) {
		if !seen[b.Digest] {
			seen[b.Digest] = true
			pl.blobs = append(pl.blobs, b)
			pl.bytes += b.Size
		}
	}
	err := c.Meta.GCUnlinkedBlobs(ctx, func(b meta.GCBlob) error {
		add(b)
		return nil
	})
	if err != nil {
		return err
	}
	unlinked := map[digest.Digest]int{}
	size := map[digest.Digest]int64{}
	for _, l := range pl.links {
		unlinked[l.Digest]++
		size[l.Digest] = l.Size
	}
	ds := make([]digest.Digest, 0, len(unlinked))
	for d := range unlinked {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	counts, err := c.Meta.GCLinkCounts(ctx, ds)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if counts[d] <= unlinked[d] {
			add(meta.GCBlob{Digest: d, Size: size[d]})
		}
	}
	return nil
}

// orphanedBy returns the links of repo, made before before, that only the
// garbage manifests reference.
func (c *Collector) orphanedBy(ctx context.Context, repo string, garbage []digest.Digest, before time.Time) ([]meta.GCLink, error) {
	dead := make(map[digest.Digest]bool, len(garbage))
	for _, d := range garbage {
		dead[d] = true
	}
	// ref → referenced by garbage only (false once a live manifest does)
	only := map[digest.Digest]bool{}
	err := c.Meta.GCRefs(ctx, repo, func(m, ref digest.Digest) error {
		byDead := dead[m]
		if prev, ok := only[ref]; ok {
			only[ref] = prev && byDead
		} else {
			only[ref] = byDead
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var cands []digest.Digest
	for ref, o := range only {
		if o {
			cands = append(cands, ref)
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.Sort(cands)
	links, err := c.Meta.GCLinks(ctx, repo, cands)
	if err != nil {
		return nil, err
	}
	out := links[:0]
	for _, l := range links {
		if l.CreatedAt.Before(before) {
			out = append(out, l)
		}
	}
	return out, nil
}

// untaggedGarbage returns the manifests of one repository that are
// garbage (doc.go), in deletion order: an index before its children, a
// subject before its accessories.
func untaggedGarbage(ms []meta.GCManifest, before time.Time) []digest.Digest {
	at := make(map[digest.Digest]int, len(ms))
	accessories := map[digest.Digest][]digest.Digest{}
	for i, m := range ms {
		at[m.Digest] = i
		if m.Subject != "" {
			accessories[m.Subject] = append(accessories[m.Subject], m.Digest)
		}
	}
	// dependents: what keeping (or deleting first) a manifest concerns.
	dependents := func(d digest.Digest) []digest.Digest {
		return append(slices.Clone(ms[at[d]].Children), accessories[d]...)
	}
	kept := make([]bool, len(ms))
	var queue []digest.Digest
	for i, m := range ms {
		if m.Tagged || !m.CreatedAt.Before(before) {
			kept[i] = true
			queue = append(queue, m.Digest)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, dep := range dependents(d) {
			if i, ok := at[dep]; ok && !kept[i] {
				kept[i] = true
				queue = append(queue, dep)
			}
		}
	}
	// Kahn's order over the garbage: a manifest comes after every garbage
	// manifest it depends on (its indexes, its subject).
	indegree := map[digest.Digest]int{}
	var garbage []digest.Digest
	for i, m := range ms {
		if !kept[i] {
			garbage = append(garbage, m.Digest)
			indegree[m.Digest] += 0
			for _, dep := range dependents(m.Digest) {
				if j, ok := at[dep]; ok && !kept[j] && dep != m.Digest {
					indegree[dep]++
				}
			}
		}
	}
	order := make([]digest.Digest, 0, len(garbage))
	for _, d := range garbage {
		if indegree[d] == 0 {
			order = append(order, d)
		}
	}
	for i := 0; i < len(order); i++ {
		for _, dep := range dependents(order[i]) {
			if j, ok := at[dep]; ok && !kept[j] && dep != order[i] {
				if indegree[dep]--; indegree[dep] == 0 {
					order = append(order, dep)
				}
			}
		}
	}
	return order
}
