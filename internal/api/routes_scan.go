package api

// scanRoutes: Harbor's scanning (tags scan, scanner, artifact's
// vulnerabilities addition, system CVE allowlist) with the built-in
// scanner (scan.go, scanners.go).
func (s *Server) scanRoutes() []route {
	const art = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
	return []route{
		{"POST", art + "/scan", s.scanArtifact},
		{"POST", art + "/scan/stop", s.stopScanArtifact},
		{"GET", art + "/scan/{report_id}/log", s.getReportLog},
		{"GET", art + "/additions/vulnerabilities", s.getVulnerabilitiesAddition},
		{"GET", "/scanners", s.listScanners},
		{"GET", "/scanners/{registration_id}", s.getScanner},
		{"GET", "/scanners/{registration_id}/metadata", s.getScannerMetadata},
		{"GET", "/projects/{project_name_or_id}/scanner", s.getScannerOfProject},
		{"PUT", "/projects/{project_name_or_id}/scanner", s.setScannerOfProject},
		{"GET", "/projects/{project_name_or_id}/scanner/candidates", s.listScannerCandidatesOfProject},
		{"GET", "/system/CVEAllowlist", s.getSystemCVEAllowlist},
		{"PUT", "/system/CVEAllowlist", s.putSystemCVEAllowlist},
		{"GET", "/system/scanAll/schedule", s.getScanAllSchedule},
		{"POST", "/system/scanAll/schedule", s.createScanAllSchedule},
		{"PUT", "/system/scanAll/schedule", s.updateScanAllSchedule},
		{"POST", "/system/scanAll/stop", s.stopScanAll},
		{"GET", "/scans/all/metrics", s.getLatestScanAllMetrics},
		{"GET", "/scans/schedule/metrics", s.getLatestScheduledScanAllMetrics},
		{"GET", "/security/summary", s.getSecuritySummary},
		{"GET", "/security/vul", s.ListVulnerabilities},
	}
}
