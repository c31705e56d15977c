package retention

import (
	"cmp"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// Artifact is a manifest of a repository as retention sees it: every
// manifest of the repository is one, candidates and the accessories and
// index children that go with them.
type Artifact struct {
	Digest digest.Digest
	Tags   []Tag
	// PushedAt is when the manifest was pushed, PulledAt when it was last
	// pulled (zero: never).
	PushedAt, PulledAt time.Time
	// Size is the manifest's size plus that of the blobs it references.
	Size   int64
	Labels []string
	// AccessoryOf is the artifact of the repository this one is an
	// accessory of (a signature, an SBOM), "" if none.
	AccessoryOf digest.Digest
	// Children are the manifests an index references.
	Children []digest.Digest
	// Immutable: one of its tags is immutable now.
	Immutable bool
}

// Tag is a tag of an artifact: when it was pointed at it, and last pulled
// by it (zero: never).
type Tag struct {
	Name               string
	PushedAt, PulledAt time.Time
}

// Verdicts, as Harbor's log prints them.
const (
	Retain    = "RETAIN"
	Delete    = "DEL"
	Immutable = "IMMUTABLE"
	Failed    = "ERR"
)

// Decision is what becomes of one artifact.
type Decision struct {
	*Artifact
	// Candidate: the artifact is evaluated on its own (tagged, or untagged
	// and no index's child, and no accessory). The others go with the
	// candidate they belong to.
	Candidate bool
	Verdict   string
	// RetainedBy lists the policy's rules (their index in Policy.Rules)
	// that retain a candidate.
	RetainedBy []int
	// Parent is the artifact a dependent goes with (an accessory's
	// subject, a child's index); for a candidate kept only because a kept
	// index references it, that index.
	Parent digest.Digest
	// PushedTime and PulledTime are those the templates used: the latest
	// of the manifest's and its tags'. Never pulled: PulledTime is zero
	// (ActivePulled gives the time the pull-based templates use).
	PushedTime, PulledTime time.Time
	// Dependents are the accessories and index children deleted with a
	// candidate (for DEL), in the order they go: parents first.
	Dependents []digest.Digest
	// Error says why a delete did not happen as planned (a run sets it).
	Error string
}

// ActivePulled is the pull time the pull-based templates use: never
// pulled counts as pulled when it was pushed.
func (d *Decision) ActivePulled() time.Time {
	if d.PulledTime.IsZero() {
		return d.PushedTime
	}
	return d.PulledTime
}

// TagNames lists an artifact's tags' names.
func (a *Artifact) TagNames() []string {
	out := make([]string, 0, len(a.Tags))
	for _, t := range a.Tags {
		out = append(out, t.Name)
	}
	return out
}

// Plan is what a policy does to one repository.
type Plan struct {
	// Rules are the policy's rules (their indexes) that apply to the
	// repository; none: the repository is left alone.
	Rules []int
	// Decisions has one entry per artifact: the candidates first, newest
	// push first, then the others.
	Decisions []Decision
}

// RulesFor lists the enabled rules of p (their indexes) that apply to the
// repository at path (its name without the project).
func (p *Policy) RulesFor(path string) []int {
	var out []int
	for i := range p.Rules {
		if r := &p.Rules[i]; !r.Disabled && r.SelectsRepository(path) {
			out = append(out, i)
		}
	}
	return out
}

// Evaluate decides what policy p does to the artifacts of the repository
// at path, at time now. It is a pure function of its arguments.
//
// Each rule that applies selects candidates with its tag selectors and
// keeps some by its template; the union is kept (Harbor's OR). A
// candidate no rule keeps is deleted, unless it or one of the artifacts
// that go with it has an immutable tag (IMMUTABLE: kept). What a kept
// artifact references or is accessorized by is kept, including a tagged
// child of a kept index that would otherwise go (Harbor fails deleting
// it). What goes with a deleted candidate goes too.
func Evaluate(p *Policy, path string, arts []Artifact, now time.Time) *Plan {
	plan := &Plan{Rules: p.RulesFor(path)}
	g := newGraph(arts)
	plan.Decisions = g.decisions
	cands := g.candidates()
	if len(plan.Rules) == 0 {
		for i := range plan.Decisions {
			plan.Decisions[i].Verdict = Retain
		}
		return plan
	}
	for _, ri := range plan.Rules {
		for _, i := range keep(&p.Rules[ri], cands, g.decisions, now) {
			g.decisions[i].RetainedBy = append(g.decisions[i].RetainedBy, ri)
		}
	}
	for _, i := range cands {
		d := &g.decisions[i]
		switch {
		case len(d.RetainedBy) > 0:
			d.Verdict = Retain
		case g.familyImmutable(i):
			d.Verdict = Immutable
		default:
			d.Verdict = Delete
		}
	}
	g.keepReferenced()
	g.assignDependents(cands)
	return plan
}

// graph indexes the artifacts of a repository by their references.
type graph struct {
	decisions []Decision
	index     map[digest.Digest]int
	// dependents of each artifact: its accessories, then its children.
	dependents [][]int
	parents    []int // how many index parents each artifact has
}

func newGraph(arts []Artifact) *graph {
	g := &graph{decisions: make([]Decision, len(arts)), index: make(map[digest.Digest]int, len(arts)),
		dependents: make([][]int, len(arts)), parents: make([]int, len(arts))}
	for i := range arts {
		g.index[arts[i].Digest] = i
	}
	for i := range arts {
		a := &arts[i]
		if s, ok := g.index[a.AccessoryOf]; ok && s != i {
			g.dependents[s] = append(g.dependents[s], i)
		}
	}
	for i := range arts {
		for _, c := range arts[i].Children {
			if j, ok := g.index[c]; ok && j != i {
				g.dependents[i] = append(g.dependents[i], j)
				g.parents[j]++
			}
		}
	}
	for i := range arts {
		a := &arts[i]
		d := Decision{Artifact: a, PushedTime: a.PushedAt, PulledTime: a.PulledAt}
		for _, t := range a.Tags {
			d.PushedTime = later(d.PushedTime, t.PushedAt)
			d.PulledTime = later(d.PulledTime, t.PulledAt)
		}
		_, accessory := g.index[a.AccessoryOf]
		d.Candidate = !accessory && (len(a.Tags) > 0 || g.parents[i] == 0)
		g.decisions[i] = d
	}
	// Candidates first, newest push first (ties by digest, so that plans
	// are reproducible); then the others in the same order.
	order := make([]int, len(arts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		dx, dy := &g.decisions[x], &g.decisions[y]
		if dx.Candidate != dy.Candidate {
			if dx.Candidate {
				return -1
			}
			return 1
		}
		if c := dy.PushedTime.Compare(dx.PushedTime); c != 0 {
			return c
		}
		return cmp.Compare(dx.Digest, dy.Digest)
	})
	g.reorder(order)
	return g
}

// reorder puts the decisions in order, keeping the indexes consistent.
func (g *graph) reorder(order []int) {
	pos := make([]int, len(order)) // old index → new index
	for n, o := range order {
		pos[o] = n
	}
	decisions := make([]Decision, len(order))
	dependents := make([][]int, len(order))
	parents := make([]int, len(order))
	for n, o := range order {
		decisions[n], parents[n] = g.decisions[o], g.parents[o]
		for _, j := range g.dependents[o] {
			dependents[n] = append(dependents[n], pos[j])
		}
		g.index[decisions[n].Digest] = n
	}
	g.decisions, g.dependents, g.parents = decisions, dependents, parents
}

func (g *graph) candidates() []int {
	var out []int
	for i := range g.decisions {
		if g.decisions[i].Candidate {
			out = append(out, i)
		}
	}
	return out
}

// family walks the dependents of candidate i that go with it: its
// accessories and children that are not candidates themselves, and
// theirs, parents first.
func (g *graph) family(i int, visit func(j int) bool) {
	seen := map[int]bool{i: true}
	queue := []int{i}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, j := range g.dependents[n] {
			if seen[j] || g.decisions[j].Candidate {
				continue
			}
			seen[j] = true
			if !visit(j) {
				return
			}
			queue = append(queue, j)
		}
	}
}

// familyImmutable: candidate i or an artifact that goes with it has an
// immutable tag (deleting it would delete that tag).
func (g *graph) familyImmutable(i int) bool {
	found := g.decisions[i].Immutable
	if !found {
		g.family(i, func(j int) bool {
			found = g.decisions[j].Immutable
			return !found
		})
	}
	return found
}

// keepReferenced keeps everything a kept artifact references or is
// accessorized by: the kept ones' dependents, candidates among them too.
func (g *graph) keepReferenced() {
	kept := make([]bool, len(g.decisions))
	var queue []int
	for i := range g.decisions {
		if d := &g.decisions[i]; d.Candidate && d.Verdict != Delete {
			kept[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, j := range g.dependents[n] {
			if kept[j] {
				continue
			}
			kept[j] = true
			d := &g.decisions[j]
			d.Parent = g.decisions[n].Digest
			if !d.Candidate || d.Verdict == Delete {
				d.Verdict = Retain
			}
			queue = append(queue, j)
		}
	}
}

// assignDependents gives each deleted candidate the dependents that go
// with it (those no kept artifact holds on to), and keeps any artifact
// left over (one no candidate leads to: nothing deletes it).
func (g *graph) assignDependents(cands []int) {
	for _, i := range cands {
		d := &g.decisions[i]
		if d.Verdict != Delete {
			continue
		}
		g.family(i, func(j int) bool {
			if dj := &g.decisions[j]; dj.Verdict == "" {
				dj.Verdict, dj.Parent = Delete, d.Digest
				d.Dependents = append(d.Dependents, dj.Digest)
			}
			return true
		})
	}
	for i := range g.decisions {
		if g.decisions[i].Verdict == "" {
			g.decisions[i].Verdict = Retain
		}
	}
}

// keep applies rule r to the candidates cands: its tag selectors in turn,
// then its template. It returns the indexes kept.
func keep(r *Rule, cands []int, ds []Decision, now time.Time) []int {
	sel := make([]int, 0, len(cands))
	sels := tagSelectorsOf(r)
	for _, i := range cands {
		tags := ds[i].TagNames()
		ok := true
		for _, s := range sels {
			if !s.selects(tags) {
				ok = false
				break
			}
		}
		if ok {
			sel = append(sel, i)
		}
	}
	days := func(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }
	switch r.Template {
	case Always:
		return sel
	case Nothing:
		return nil
	case LatestPushedK:
		return latest(sel, r.param(), func(i int) time.Time { return ds[i].PushedTime }, ds)
	case LatestPulledN:
		return latest(sel, r.param(), func(i int) time.Time { return ds[i].ActivePulled() }, ds)
	case LatestActiveK:
		return latest(sel, r.param(), func(i int) time.Time { return later(ds[i].PushedTime, ds[i].PulledTime) }, ds)
	case NDaysSinceLastPush:
		cut := days(r.param())
		return since(sel, func(i int) bool { return !ds[i].PushedTime.Before(cut) })
	case NDaysSinceLastPull:
		cut := days(r.param())
		return since(sel, func(i int) bool { return !ds[i].ActivePulled().Before(cut) })
	case LastXDays:
		cut := days(r.param())
		return since(sel, func(i int) bool { return ds[i].PushedTime.After(cut) })
	}
	return nil // Check lets no other template in
}

// latest keeps the k most recent of sel by at (ties: the lower digest).
func latest(sel []int, k int, at func(int) time.Time, ds []Decision) []int {
	if k >= len(sel) {
		return sel
	}
	slices.SortStableFunc(sel, func(x, y int) int {
		if c := at(y).Compare(at(x)); c != 0 {
			return c
		}
		return cmp.Compare(ds[x].Digest, ds[y].Digest)
	})
	return sel[:k]
}

func since(sel []int, ok func(int) bool) []int {
	out := sel[:0:0]
	for _, i := range sel {
		if ok(i) {
			out = append(out, i)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
