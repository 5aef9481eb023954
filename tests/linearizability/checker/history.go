// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/anishathalye/porcupine"
)

// record is one line of a history written by lin-client (tests/linearizability/README.md).
type record struct {
	Client  int    `json:"client"`
	Daemon  int    `json:"daemon"`
	Op      string `json:"op"`
	Volume  string `json:"volume"`
	Node    string `json:"node"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Result  string `json:"result"`
	Holder  string `json:"holder"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Errors that prove the call never took effect: the bus could not deliver it, or the daemon
// refused it before doing anything. Such a call carries no information and is left out.
var noEffectErrors = []string{
	"org.freedesktop.DBus.Error.ServiceUnknown",
	"org.freedesktop.DBus.Error.NameHasNoOwner",
	"org.freedesktop.DBus.Error.LimitsExceeded",
	"org.freedesktop.DBus.Error.InvalidArgs",
	"org.freedesktop.DBus.Error.AccessDenied",
	"org.srvlab.Attachment1.Error.ShuttingDown",
}

// meta rides along with each operation: what the report prints, and the volume for the
// visualization's partitions.
type meta struct {
	Volume string
	Who    string // "client C on daemon D"
	Call   int64  // the recorded invocation (a Get's Call is moved back by the lag bound)
}

type history struct {
	ops     []porcupine.Operation
	volumes []string // per operation
	start   int64    // the first invocation, for printing times relative to it
	counts  map[string]int
	dropped int // calls left out: no effect, or a Get not checked
}

func readRecords(r io.Reader) ([]record, error) {
	var records []record
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var rec record
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if rec.Volume == "" || rec.Return < rec.Call {
			return nil, fmt.Errorf("line %d: no volume, or returns before its call", line)
		}
		records = append(records, rec)
	}
	return records, scanner.Err()
}

func classify(rec record) (input, output, error) {
	in := input{Op: rec.Op, Node: rec.Node}
	out := output{Detail: rec.Result}
	if rec.Error != "" {
		out.Detail = rec.Error
	}
	switch rec.Op {
	case "track", "retrack":
		in.Op = opTrack
		if rec.Node == "" {
			return in, out, fmt.Errorf("a Track without a node")
		}
	case opTrackShared, opUntrackNode:
		if rec.Node == "" {
			return in, out, fmt.Errorf("a %s without a node", rec.Op)
		}
	case opUntrack, opGet:
		in.Node = ""
	default:
		return in, out, fmt.Errorf("unknown op %q", rec.Op)
	}
	switch {
	case rec.Result == "ok":
		out.Kind, out.Node = outOk, rec.Holder
		if in.Op == opGet && rec.Holder == "" {
			out.Kind = outBad
		}
	case rec.Result == "AlreadyAttached" && (in.Op == opTrack || in.Op == opTrackShared) &&
		rec.Holder != "":
		out.Kind, out.Node = outAlready, rec.Holder
	case rec.Result == "NotAttached" && in.Op == opGet:
		out.Kind = outFree
	case rec.Result == "StoreFailed" || rec.Result == "timeout":
		out.Kind = outUnknown
	case rec.Result == "error":
		out.Kind = outUnknown
		for _, name := range noEffectErrors {
			if rec.Error == name {
				out.Kind = ""
			}
		}
	default:
		// VolumeNotFound (every volume of a history exists throughout), or an answer the
		// operation cannot give: no state allows it.
		out.Kind = outBad
	}
	return in, out, nil
}

// buildHistory turns records into Porcupine operations. An indeterminate call returns at the
// end of the history (it may take effect at any moment after its invocation). A Get is
// answered from the daemon's cache, which DESIGN §8 allows to lag the API server by up to
// 1 s (the watch delivers within that bound): its invocation is moved back by `lag`, so it
// may read any state the register held up to `lag` before the call (bounded staleness).
// Track and Untrack are checked strictly.
// Without `gets`, Gets are left out and only Track/Untrack are checked.
func buildHistory(records []record, lag int64, gets bool) (*history, error) {
	h := &history{counts: map[string]int{}}
	var end int64
	clients := 0
	for i, rec := range records {
		if i == 0 || rec.Call < h.start {
			h.start = rec.Call
		}
		if rec.Return > end {
			end = rec.Return
		}
		if rec.Client >= clients {
			clients = rec.Client + 1
		}
	}
	extraClient := clients
	for _, rec := range records {
		in, out, err := classify(rec)
		if err != nil {
			return nil, fmt.Errorf("client %d at %d: %v", rec.Client, rec.Call, err)
		}
		h.counts[rec.Result]++
		if out.Kind == "" || (in.Op == opGet && (out.Kind == outUnknown || !gets)) {
			h.dropped++
			continue
		}
		op := porcupine.Operation{ClientId: rec.Client, Input: in, Output: out,
			Call: rec.Call, Return: rec.Return,
			Metadata: meta{Volume: rec.Volume, Call: rec.Call,
				Who: fmt.Sprintf("client %d on daemon %d", rec.Client, rec.Daemon)}}
		if out.Kind == outUnknown {
			// Its own row in the visualization: it overlaps the client's later calls.
			op.Return, op.ClientId = end+1, extraClient
			extraClient++
		}
		if in.Op == opGet {
			op.Call -= lag
		}
		h.ops = append(h.ops, op)
		h.volumes = append(h.volumes, rec.Volume)
	}
	return h, nil
}

// partitions groups the operations' indices by volume.
func (h *history) partitions() map[string][]int {
	parts := map[string][]int{}
	for i, v := range h.volumes {
		parts[v] = append(parts[v], i)
	}
	return parts
}
