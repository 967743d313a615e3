package broker

import "time"

// exposureUpdate returns the fact operations that record what a request
// routed to in its session: an assert per new exposure element and new flag,
// and a modify of the session fact. before is the session's state when the
// request began; flags are computed on the state after the update and take
// effect from the next request on.
func (b *Broker) exposureUpdate(sessionID, requestID string, before State, req Request, routed []string,
	intentTypes []string, now time.Time) []Op {
	after := before.Clone()
	var ops []Op
	add := func(category string, list *[]string, value string) {
		if contains(*list, value) {
			return
		}
		*list = append(*list, value)
		ops = append(ops, Op{Op: OpAssert, Template: tmplExposure, Slots: exposureFact(sessionID, category, value).Slots})
	}

	level := rank(after.CumulativeClassification)
	touchedPII := false
	for _, id := range routed {
		src := b.sources[id]
		for _, t := range intersect(intentTypes, src.DataTypes) {
			add(catDataTypes, &after.DataTypesSeen, t)
		}
		add(catSources, &after.SourcesVisited, id)
		if isPII(src) {
			touchedPII = true
			add(catPIISources, &after.PIISourcesAccessedList, id)
		}
		level = max(level, rank(src.Classification))
	}
	add(catAgents, &after.AgentsSeen, req.AgentID)
	if touchedPII {
		add(catPIIAgents, &after.PIIAgents, req.AgentID)
	}

	raise := func(flag string) bool {
		if contains(after.ExposureFlags, flag) {
			return false
		}
		after.ExposureFlags = append(after.ExposureFlags, flag)
		ops = append(ops, Op{Op: OpAssert, Template: tmplFlag, Slots: flagFact(sessionID, flag).Slots})
		return true
	}
	if contains(after.DataTypesSeen, "pii") && contains(after.DataTypesSeen, "financial") && raise(flagPIIFinancial) {
		level = min(max(level, 0)+1, len(ladder)-1)
	}
	for _, a := range after.PIIAgents {
		if a != req.AgentID {
			raise(flagCrossAgent)
			break
		}
	}
	for _, p := range b.cfg.Escalation {
		if len(intersect(p.Trigger, after.DataTypesSeen)) == len(sortedSet(p.Trigger)) && raise(p.ID) {
			level = max(level, rank(p.ResultingLevel))
		}
	}

	modify := Slots{
		"last_request_id":           requestID,
		"last_request_ts":           timestamp(now),
		"last_sources_queried":      routed,
		"pii_sources_accessed":      float64(len(sortedSet(after.PIISourcesAccessedList))),
		"cumulative_classification": ladder[max(level, 0)],
	}
	if before.Owner == "" && len(b.cfg.Agents) > 0 {
		modify["owner"] = req.AgentID
	}
	if ttl := req.Context.PurposeTTLSeconds; ttl > 0 && before.PurposeTTLSeconds <= 0 {
		modify["purpose_start_ts"] = unixSeconds(now)
		modify["purpose_ttl_seconds"] = ttl
	}
	ops = append(ops, Op{Op: OpModify, Template: tmplSession, Match: Slots{"session_id": sessionID}, Slots: modify})
	return ops
}
