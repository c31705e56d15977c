package match

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	rpmver "github.com/knqyf263/go-rpm-version"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Red Hat Enterprise Linux (UBI included) and CentOS, as Trivy's
// detector (pkg/detector/ospkg/redhat) over trivy-db's redhat-oval
// source: one "Red Hat" bucket for every version, whose entries apply
// only to the CPEs of the content sets the package was installed from.
// Without that filter an RHEL 8 image would get RHEL 7's advisories, and
// an image from the base repositories those of products it lacks.

// ErrNoRedHatCPE is returned when none of a package's content sets (or
// build NVR) is known to the database: Trivy fails the scan then too, as
// matching without the CPE filter is not possible and matching nothing
// would hide every vulnerability.
var ErrNoRedHatCPE = errors.New("no Red Hat CPE for the content sets")

// redHatSeveritySource is the vendor-severity key of Red Hat's own
// severity ("redhat", from its security data API), the source Trivy
// names for these findings.
const redHatSeveritySource = "redhat"

// defaultContentSets are the content sets assumed for a package without
// build information: CentOS images, and RHEL images built without a
// content manifest (Trivy's defaultContentSets).
var defaultContentSets = map[string][]string{
	"6": {"rhel-6-server-rpms", "rhel-6-server-extras-rpms"},
	"7": {"rhel-7-server-rpms", "rhel-7-server-extras-rpms"},
	"8": {"rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"},
	"9": {"rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms"},
}

// genericSuffix is the "__8" an image build appends to a content set;
// the EUS form "__9_DOT_2" names a real repository and stays
// (trivy-db issue 435).
var genericSuffix = regexp.MustCompile(`__\d+$`)

// isRedHat: the os-release IDs matched through the "Red Hat" bucket.
func isRedHat(id string) bool { return id == "rhel" || id == "centos" }

// redHatMatcher matches the rpm packages of one image, remembering the
// CPE indices of each set of content sets (an image has one or two).
type redHatMatcher struct {
	db    Source
	res   *catalog.Result
	major string
	cpes  map[string][]int
}

func newRedHatMatcher(db Source, res *catalog.Result) *redHatMatcher {
	major, _, _ := strings.Cut(res.OS.VersionID, ".")
	return &redHatMatcher{db: db, res: res, major: major, cpes: map[string][]int{}}
}

// cpeIndices maps what p was built from to CPE indices: the content
// sets (cleaned of build suffixes) and "<nvr>-<arch>" of its layer's
// build information, else the default content sets of the version.
func (m *redHatMatcher) cpeIndices(p catalog.Package) ([]int, error) {
	var sets, nvrs []string
	if bi := m.res.BuildInfoOf(p); bi == nil {
		sets = defaultContentSets[m.major]
	} else {
		sets = bi.ContentSets
		if bi.NVR != "" {
			// Trivy looks "-" up too when there is no NVR: never a key.
			nvrs = []string{bi.NVR + "-" + bi.Arch}
		}
	}
	cleaned := make([]string, len(sets))
	for i, s := range sets {
		cleaned[i] = genericSuffix.ReplaceAllString(s, "")
	}
	key := strings.Join(cleaned, "\x00") + "\x01" + strings.Join(nvrs, "\x00")
	if idx, ok := m.cpes[key]; ok {
		return idx, nil
	}
	idx, err := m.db.RedHatCPEIndices(cleaned, nvrs)
	if err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w %q (build NVR %q) of rpm %s", ErrNoRedHatCPE, cleaned, nvrs, p.Name)
	}
	m.cpes[key] = idx
	return idx, nil
}

// candidate is one (vulnerability, entry) pair that applies to the
// package's CPEs.
type candidate struct {
	id, vendorID string
	fixed        string
	status       vulndb.Status
	severity     vulndb.Severity
}

// match returns the findings of one rpm package: advisories of its
// binary name (in its module's namespace if modular) whose entries apply
// to its CPEs and architecture; per vulnerability the entry with the
// latest fix; reported if unfixed (whatever its status: "affected",
// "will not fix", …) or if the installed EPOCH:VERSION-RELEASE is older
// than the fix.
func (m *redHatMatcher) match(p catalog.Package) ([]Finding, error) {
	cpes, err := m.cpeIndices(p)
	if err != nil {
		return nil, err
	}
	advs, err := m.db.RedHatAdvisories(modularName(p.Name, p.Modularitylabel))
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	best := map[string]candidate{}
	var order []string
	for _, a := range advs {
		for _, e := range a.Entries {
			if !intersects(cpes, e.AffectedCPEIndices) {
				continue
			}
			// No arches, or a noarch package: every architecture.
			if len(e.Arches) != 0 && p.Arch != "noarch" && !slices.Contains(e.Arches, p.Arch) {
				continue
			}
			for _, c := range e.Cves {
				cand := candidate{id: a.ID, fixed: e.FixedVersion, status: e.Status, severity: c.Severity}
				if !strings.HasPrefix(a.ID, "CVE-") {
					cand.id, cand.vendorID = c.ID, a.ID
				}
				old, seen := best[cand.id]
				switch {
				case !seen:
					order = append(order, cand.id)
					best[cand.id] = cand
				case rpmver.NewVersion(old.fixed).LessThan(rpmver.NewVersion(cand.fixed)):
					best[cand.id] = cand
				}
			}
		}
	}
	installed := rpmver.NewVersion(p.Version)
	var out []Finding
	for _, id := range order {
		c := best[id]
		if c.fixed != "" && !installed.LessThan(rpmver.NewVersion(c.fixed)) {
			continue
		}
		fixed := rpmver.NewVersion(c.fixed).String() // "0:1.2-3" → "1.2-3"; "" stays ""
		f := finding(m.db, p, vulndb.Advisory{VulnerabilityID: id, Severity: c.severity, Bucket: vulndb.BucketRedHat}, fixed)
		// The severity is Red Hat's for this platform, from the entry.
		// An entry without one: Trivy reports UNKNOWN; we take Red Hat's
		// vendor severity of the CVE, else NVD's.
		if c.severity == vulndb.SeverityUnknown {
			f.Severity = severity(m.db, vulndb.Advisory{VulnerabilityID: id}, redHatSeveritySource)
		}
		switch {
		case fixed != "":
			f.Status = vulndb.StatusFixed.String()
		case c.status == vulndb.StatusUnknown:
			f.Status = vulndb.StatusAffected.String()
		default:
			f.Status = c.status.String()
		}
		if c.vendorID != "" {
			f.VendorIDs = []string{c.vendorID}
		}
		out = append(out, f)
	}
	return out, nil
}

// modularName is the name Red Hat files a modular package's advisories
// under: "npm" of module stream "nodejs:12:8030020201124152102:229f0a1c"
// is "nodejs:12::npm"; a label without a stream leaves the name as is.
func modularName(name, label string) string {
	n := 0
	for i := 0; i < len(label); i++ {
		if label[i] == ':' {
			if n++; n == 2 {
				return label[:i] + "::" + name
			}
		}
	}
	return name
}

func intersects(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
