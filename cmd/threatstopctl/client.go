package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client calls the API with one customer's token.
type client struct {
	base  string // the server's URL without a trailing '/'
	token string
	http  *http.Client
}

// apiError is an answer other than 2xx: its status and the server's message.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// policy is a policy as the API shows it (plugin/threatadmin's policyView).
type policy struct {
	Name   string   `json:"name"`
	Serial uint32   `json:"serial"`
	Lists  []string `json:"lists"`
	Block  []string `json:"block"`
	Allow  []string `json:"allow"`
}

// added answers an addition: the entry in the server's canonical form.
type added struct {
	Value  string `json:"value"`
	Serial uint32 `json:"serial"`
}

type auditRecord struct {
	Time     time.Time `json:"time"`
	Customer string    `json:"customer"`
	From     string    `json:"from"`
	Action   string    `json:"action"`
	Policy   string    `json:"policy"`
	List     string    `json:"list"`
	Value    string    `json:"value"`
}

// do sends in (when not nil) as JSON and decodes a 2xx answer into out: a *[]byte takes the body as
// it came. Any other status is an *apiError.
func (c *client) do(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err // names the URL, never the token: that is in a header
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, req.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = resp.Status // not the API's answer: a proxy's, say
		}
		return resp.StatusCode, &apiError{resp.StatusCode, e.Error}
	}
	switch out := out.(type) {
	case nil:
	case *[]byte:
		*out = b
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: not an answer of the API: %w", method, req.URL, err)
		}
	}
	return resp.StatusCode, nil
}

func policyPath(name string) string { return "/api/v1/policies/" + url.PathEscape(name) }

// add adds value to a policy's list; created is false when it was there already.
func (c *client) add(pol, list, value string) (a added, created bool, err error) {
	code, err := c.do("POST", policyPath(pol)+"/"+list, map[string]string{"value": value}, &a)
	return a, code == http.StatusCreated, err
}

// remove removes value from a policy's list. The value is one path segment: a prefix's '/' escaped.
func (c *client) remove(pol, list, value string) error {
	_, err := c.do("DELETE", policyPath(pol)+"/"+list+"/"+url.PathEscape(value), nil, nil)
	return err
}

func (c *client) policy(name string) (p policy, err error) {
	_, err = c.do("GET", policyPath(name), nil, &p)
	return p, err
}

func auditPath(limit int) string {
	if limit > 0 {
		return "/api/v1/audit?limit=" + strconv.Itoa(limit)
	}
	return "/api/v1/audit"
}

// importResult is the server's answer to an import.
type importResult struct {
	Added   int `json:"added"`
	Present int `json:"present"`
	Removed int `json:"removed"`
	Serial  uint32
	Errors  []struct {
		Line  int    `json:"line"`
		Value string `json:"value"`
		Error string `json:"error"`
	} `json:"errors"`
}

// importText sends a list as one import: one edit on the server, however many entries. A replace that
// the server refuses for its bad lines (422) comes back as a result with those lines, and no error.
func (c *client) importText(pol, list, text string, replace bool) (res importResult, err error) {
	path := policyPath(pol) + "/" + url.PathEscape(list) + "/import"
	if replace {
		path += "?replace=true"
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(text))
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, fmt.Errorf("POST %s: %w", req.URL, err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnprocessableEntity && replace {
		if err := json.Unmarshal(b, &res); err != nil {
			return res, fmt.Errorf("POST %s: not an answer of the API: %w", req.URL, err)
		}
		return res, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = resp.Status
	}
	return res, &apiError{resp.StatusCode, e.Error}
}
