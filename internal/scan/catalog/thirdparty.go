package catalog

import (
	"slices"
	"strings"
)

// Trivy (v0.74, fanal analyzers pkg/dpkg and pkg/rpm) marks an OS package
// installed from a third-party repository (Docker's, NVIDIA's, HashiCorp's,
// …) and its detectors drop such packages: the distribution's advisories do
// not describe them. The same tests decide Package.ThirdParty here.

// thirdPartyMaintainers are substrings of a dpkg Maintainer field that
// mean a third-party repository (Trivy's thirdPartyMaintainerPatterns).
var thirdPartyMaintainers = []string{
	"support@docker.com",
	"@nvidia.com", "Google Cloud CLI Authors", "sapmachine@sap.com", "@hashicorp.com", "@microsoft.com",
	"@mongodb.com", "developers@lists.mariadb.org", "dev@couchdb.apache.org", "info@elastic.co",
	"nginx-packaging@f5.com", "@konghq.com", "@cloudflare.com",
	"support@influxdb.com", "support@gitlab.com", "contact@grafana.com", "@datadoghq.com",
	"@nodesource.com",
	"info@tailscale.com",
	"@openrobotics.org", "@osrfoundation.org",
}

// thirdPartyMaintainersExact are whole Maintainer values too short to be
// matched as substrings (Trivy's thirdPartyMaintainerExact).
var thirdPartyMaintainersExact = []string{"GitHub", "HashiCorp"}

func thirdPartyDeb(maintainer string) bool {
	if slices.Contains(thirdPartyMaintainersExact, maintainer) {
		return true
	}
	return slices.ContainsFunc(thirdPartyMaintainers, func(p string) bool { return strings.Contains(maintainer, p) })
}

// rpmVendors are the prefixes of the Vendor of distribution-built rpm
// packages (Trivy's osVendors); any other vendor is a third party.
var rpmVendors = []string{
	"Amazon Linux", "Amazon.com", "CentOS", "Fedora Project", "Oracle America", "Red Hat", "AlmaLinux",
	"CloudLinux", "VMware", "SUSE", "openSUSE", "Microsoft Corporation", "Rocky",
}

// thirdPartyRPM: an empty vendor is a third party unless the release is
// Amazon's (Amazon's packages may carry no vendor).
func thirdPartyRPM(vendor, release string) bool {
	if vendor == "" {
		return !strings.Contains(release, "amzn")
	}
	return !slices.ContainsFunc(rpmVendors, func(v string) bool { return strings.HasPrefix(vendor, v) })
}
