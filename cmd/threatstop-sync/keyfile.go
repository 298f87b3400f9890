package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/transfer"
)

// parseKeyLine reads ALGORITHM:NAME:SECRET (dig -y), e.g. hmac-sha256:demo.key.:SECRET.
func parseKeyLine(s string) (transfer.Key, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return transfer.Key{}, errors.New("want ALGORITHM:NAME:SECRET")
	}
	return makeKey(parts[1], parts[0], parts[2])
}

var (
	keyClauseRE = regexp.MustCompile(`(?s)key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;`)
	algRE       = regexp.MustCompile(`algorithm\s+"?([A-Za-z0-9-]+)"?\s*;`)
	secretRE    = regexp.MustCompile(`secret\s+"([^"]+)"\s*;`)
)

// readKeyFile reads a BIND key clause (what tsig-keygen writes) or one ALGORITHM:NAME:SECRET line.
func readKeyFile(path string) (transfer.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return transfer.Key{}, err
	}
	text := string(data)
	if m := keyClauseRE.FindStringSubmatch(text); m != nil {
		alg, sec := algRE.FindStringSubmatch(m[2]), secretRE.FindStringSubmatch(m[2])
		if alg == nil || sec == nil {
			return transfer.Key{}, fmt.Errorf("%s: key %s needs algorithm and secret", path, m[1])
		}
		return makeKey(m[1], alg[1], sec[1])
	}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return parseKeyLine(line)
		}
	}
	return transfer.Key{}, fmt.Errorf("%s: no key", path)
}

var algorithms = map[string]string{
	"hmac-sha1": dns.HmacSHA1, "hmac-sha224": dns.HmacSHA224, "hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384, "hmac-sha512": dns.HmacSHA512,
}

func makeKey(name, alg, secret string) (transfer.Key, error) {
	a, ok := algorithms[strings.TrimSuffix(strings.ToLower(alg), ".")]
	if !ok {
		return transfer.Key{}, fmt.Errorf("unknown TSIG algorithm %q", alg)
	}
	if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
		return transfer.Key{}, fmt.Errorf("TSIG secret is not base64: %w", err)
	}
	return transfer.Key{Name: strings.ToLower(dns.Fqdn(name)), Algorithm: a, Secret: secret}, nil
}
