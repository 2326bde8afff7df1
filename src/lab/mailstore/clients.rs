//! The mailbox operations only real clients exercise (exchangelib in the
//! peer tests; exprobe's probes never call them): FindFolder, FindItem
//! (indexed paging, CalendarView), GetItem, SyncFolderItems, ResolveNames,
//! GetServerTimeZones and GetUserAvailability, answered from the store in
//! [`super`].

use std::fmt::Write as _;

use super::*;

/// `(offset, max, from_end)` of an IndexedPageItemView / IndexedPageFolderView.
fn page(view: Option<&Element>) -> (usize, usize, bool) {
    let Some(view) = view else {
        return (0, usize::MAX, false);
    };
    let offset = view.attr("Offset").and_then(|o| o.trim().parse().ok()).unwrap_or(0);
    let max = view
        .attr("MaxEntriesReturned")
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(usize::MAX);
    let from_end = view.attr("BasePoint").is_some_and(|b| b.trim() == "End");
    (offset, max, from_end)
}

/// The window of `total` entries a page shows: `(start, end)`.
fn window(total: usize, (offset, max, from_end): (usize, usize, bool)) -> (usize, usize) {
    if from_end {
        let end = total.saturating_sub(offset);
        (end.saturating_sub(max), end)
    } else {
        let start = offset.min(total);
        (start, start.saturating_add(max).min(total))
    }
}

/// Whether a page holds the last entry in its direction: the end of the list
/// paging from the beginning, its start paging from the end.
fn last_in_range(total: usize, start: usize, end: usize, (_, _, from_end): (usize, usize, bool)) -> bool {
    if from_end {
        start == 0
    } else {
        end == total
    }
}

/// FindFolder: the children of each parent (Shallow) or all its descendants (Deep), paged.
pub fn find_folder(user: &UserSpec, op: &Element) -> String {
    let deep = op.attr("Traversal").is_some_and(|t| t.trim() == "Deep");
    let mut out = String::new();
    for r in refs(op, "ParentFolderIds") {
        let found = folder_ref(user, r);
        if let Some(e) = folder_error("FindFolder", user, &found, "") {
            out.push_str(&e);
            continue;
        }
        let FolderRef::Found(parent) = found else { continue };
        let mut list: Vec<&FolderDef> = vec![];
        let mut frontier = vec![parent.id];
        while let Some(id) = frontier.pop() {
            for child in children_of(id) {
                list.push(child);
                if deep {
                    frontier.push(child.id);
                }
            }
        }
        let paging = page(op.child("IndexedPageFolderView"));
        let (start, end) = window(list.len(), paging);
        let _ = write!(
            out,
            "<m:FindFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder IndexedPagingOffset=\"{}\" TotalItemsInView=\"{}\" IncludesLastItemInRange=\"{}\"><t:Folders>",
            paging.0.saturating_add(end - start),
            list.len(),
            last_in_range(list.len(), start, end, paging)
        );
        for f in &list[start..end] {
            render_folder(&mut out, f, user);
        }
        out.push_str("</t:Folders></m:RootFolder></m:FindFolderResponseMessage>");
    }
    out
}

/// An item's properties: the id only, or its summary (subject, class, times, sender).
fn render_item(out: &mut String, item: &ItemDef, n: usize, user: &UserSpec, id_only: bool) {
    let element = item.element;
    let _ = write!(
        out,
        "<t:{element}><t:ItemId Id=\"{}\" ChangeKey=\"{ITEM_CHANGE_KEY}\"/>",
        item_id(item.folder, n, user)
    );
    if !id_only {
        let _ = write!(
            out,
            "<t:ParentFolderId Id=\"{}\" ChangeKey=\"AQAAAA==\"/><t:ItemClass>{}</t:ItemClass><t:Subject>{}</t:Subject>",
            folder_id(item.folder, user),
            item.class,
            escape(item.subject)
        );
        match item.element {
            "CalendarItem" => {
                let _ = write!(
                    out,
                    "<t:Start>{}</t:Start><t:End>{}</t:End><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>",
                    item.time,
                    item.end.unwrap_or(item.time)
                );
            }
            "Message" => {
                let _ = write!(
                    out,
                    "<t:DateTimeReceived>{}</t:DateTimeReceived><t:Sender><t:Mailbox><t:Name>Contoso IT</t:Name><t:EmailAddress>it@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Sender><t:ToRecipients><t:Mailbox><t:EmailAddress>{}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:ToRecipients><t:IsRead>{}</t:IsRead>",
                    item.time,
                    escape(&user.address),
                    item.read
                );
            }
            _ => {
                let _ = write!(out, "<t:DateTimeCreated>{}</t:DateTimeCreated>", item.time);
            }
        }
    }
    let _ = write!(out, "</t:{element}>");
}

/// IdOnly without AdditionalProperties: only the ids are returned.
fn id_only(op: &Element, shape: &str) -> bool {
    op.child(shape).is_some_and(|s| {
        s.child_text("BaseShape") == Some("IdOnly")
            && s.child("AdditionalProperties").is_none_or(|a| a.children.is_empty())
    })
}

/// FindItem: a folder's items, paged (IndexedPageItemView) or within a CalendarView's window.
pub fn find_item(user: &UserSpec, op: &Element) -> String {
    let associated = op.attr("Traversal").is_some_and(|t| t.trim() != "Shallow");
    let calendar_view = op.child("CalendarView");
    let only_ids = id_only(op, "ItemShape");
    let mut out = String::new();
    for r in refs(op, "ParentFolderIds") {
        let found = folder_ref(user, r);
        if let Some(e) = folder_error("FindItem", user, &found, "") {
            out.push_str(&e);
            continue;
        }
        let FolderRef::Found(f) = found else { continue };
        let mut list: Vec<(usize, &ItemDef)> = if associated {
            vec![]
        } else {
            items_of(f.id).enumerate().collect()
        };
        let (start, end, paging_attr, last) = if let Some(view) = calendar_view {
            if f.element != "CalendarFolder" {
                out.push_str(&error_message(
                    "FindItem",
                    "ErrorCalendarFolderIsInvalidForCalendarView",
                    "The folder is not a calendar folder.",
                    "",
                ));
                continue;
            }
            let from = view.attr("StartDate").and_then(|s| instant(s, 0));
            let to = view.attr("EndDate").and_then(|s| instant(s, 0));
            let (Some(from), Some(to)) = (from, to) else {
                out.push_str(&error_message(
                    "FindItem",
                    "ErrorInvalidRequest",
                    "The request is invalid.",
                    "",
                ));
                continue;
            };
            if to < from {
                out.push_str(&error_message(
                    "FindItem",
                    "ErrorCalendarEndDateIsEarlierThanStartDate",
                    "The end date is earlier than the start date.",
                    "",
                ));
                continue;
            }
            list.retain(|(_, i)| {
                let s = instant(i.time, 0).unwrap_or(from);
                let e = i.end.and_then(|e| instant(e, 0)).unwrap_or(s);
                s < to && e > from
            });
            let max = view
                .attr("MaxEntriesReturned")
                .and_then(|m| m.trim().parse().ok())
                .unwrap_or(usize::MAX);
            (0, list.len().min(max), String::new(), list.len() <= max)
        } else {
            let paging = page(op.child("IndexedPageItemView"));
            let (start, end) = window(list.len(), paging);
            (
                start,
                end,
                format!(" IndexedPagingOffset=\"{}\"", paging.0.saturating_add(end - start)),
                last_in_range(list.len(), start, end, paging),
            )
        };
        let _ = write!(
            out,
            "<m:FindItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder{paging_attr} TotalItemsInView=\"{}\" IncludesLastItemInRange=\"{last}\"><t:Items>",
            list.len(),
        );
        for (n, i) in &list[start..end] {
            render_item(&mut out, i, *n, user, only_ids);
        }
        out.push_str("</t:Items></m:RootFolder></m:FindItemResponseMessage>");
    }
    out
}

/// The item an id names in this mailbox: `Ok(Some)`, `Ok(None)` (not found), `Err` (malformed).
fn find_by_id(user: &UserSpec, id: &str) -> Result<Option<(usize, &'static ItemDef)>, ()> {
    let decoded = unb64(id).ok_or(())?;
    let rest = decoded.strip_prefix("exprobe-lab-item-").ok_or(())?;
    let (key, address) = rest.split_once(':').ok_or(())?;
    if !address.eq_ignore_ascii_case(&user.address) {
        return Ok(None);
    }
    let Some((folder, n)) = key.rsplit_once('-') else {
        return Ok(None);
    };
    let n: usize = n.parse().map_err(|_| ())?;
    let found = ITEMS.iter().filter(|i| i.folder == folder).nth(n);
    Ok(found.map(|i| (n, i)))
}

/// GetItem: each id answered, in order.
pub fn get_item(user: &UserSpec, op: &Element) -> String {
    let only_ids = id_only(op, "ItemShape");
    let mut out = String::new();
    let ids = op
        .child("ItemIds")
        .map(|c| c.children_named("ItemId").take(MAX_REFS).collect::<Vec<_>>())
        .unwrap_or_default();
    for e in ids {
        match find_by_id(user, e.attr("Id").unwrap_or("")) {
            Ok(Some((_, item))) if user.denied_folders.iter().any(|d| d.eq_ignore_ascii_case(item.folder)) => out
                .push_str(&error_message(
                    "GetItem",
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                    "<m:Items/>",
                )),
            Ok(Some((n, item))) => {
                out.push_str("<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Items>");
                render_item(&mut out, item, n, user, only_ids);
                out.push_str("</m:Items></m:GetItemResponseMessage>");
            }
            Ok(None) => out.push_str(&error_message(
                "GetItem",
                "ErrorItemNotFound",
                "The specified object was not found in the store., The process failed to get the correct properties.",
                "<m:Items/>",
            )),
            Err(()) => out.push_str(&error_message(
                "GetItem",
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
                "<m:Items/>",
            )),
        }
    }
    out
}

/// SyncFolderItems: without a SyncState, every item of the folder as a Create,
/// `MaxChangesReturned` at a time; the SyncState says how far the client got.
pub fn sync_folder_items(user: &UserSpec, op: &Element) -> String {
    let operation = "SyncFolderItems";
    let Some(r) = refs(op, "SyncFolderId").into_iter().next() else {
        return error_message(operation, "ErrorInvalidRequest", "The request is invalid.", "");
    };
    let found = folder_ref(user, r);
    if let Some(e) = folder_error(operation, user, &found, "") {
        return e;
    }
    let FolderRef::Found(f) = found else {
        return String::new();
    };
    let state_key = format!("exprobe-lab-sync:{}:{}:", f.id, user.address.to_ascii_lowercase());
    let position = match op.child_text("SyncState") {
        None => Some(0),
        Some(state) => unb64(state).and_then(|s| s.strip_prefix(&state_key).and_then(|n| n.parse::<usize>().ok())),
    };
    let Some(position) = position else {
        // As the SyncFolderItems error example of the reference.
        return error_message(
            operation,
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
            "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
        );
    };
    let ignored: Vec<&str> = op
        .child("Ignore")
        .map(|c| c.children_named("ItemId").filter_map(|e| e.attr("Id")).collect())
        .unwrap_or_default();
    let max = op
        .child_text("MaxChangesReturned")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(512)
        .clamp(1, 512);
    let all: Vec<(usize, &ItemDef)> = items_of(f.id).enumerate().collect();
    let start = position.min(all.len());
    let end = start.saturating_add(max).min(all.len());
    let only_ids = id_only(op, "ItemShape");
    let mut changes = String::new();
    for (n, i) in &all[start..end] {
        if ignored.contains(&item_id(f.id, *n, user).as_str()) {
            continue;
        }
        changes.push_str("<t:Create>");
        render_item(&mut changes, i, *n, user, only_ids);
        changes.push_str("</t:Create>");
    }
    format!(
        "<m:SyncFolderItemsResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>{}</m:SyncState><m:IncludesLastItemInRange>{}</m:IncludesLastItemInRange><m:Changes>{changes}</m:Changes></m:SyncFolderItemsResponseMessage>",
        b64(&format!("{state_key}{end}")),
        end == all.len()
    )
}

/// ResolveNames of `UnresolvedEntry` among the mail-enabled users a caller
/// sees: `smtp:` matches the start of any proxy address; an address without a
/// routing type only the primary address; other text the start of a display
/// name's word or of the primary address's local part (ambiguous name resolution).
pub fn resolve_names(candidates: &[&UserSpec], op: &Element) -> String {
    let operation = "ResolveNames";
    let entry = op.child_text("UnresolvedEntry").unwrap_or("").to_ascii_lowercase();
    let full = op.attr("ReturnFullContactData").is_some_and(|v| v.trim() == "true");
    let matches: Vec<&&UserSpec> = candidates
        .iter()
        .filter(|u| {
            let primary = u.address.to_ascii_lowercase();
            if entry.is_empty() {
                return false;
            }
            if let Some(proxy) = entry.strip_prefix("smtp:") {
                return std::iter::once(&u.address)
                    .chain(&u.aliases)
                    .any(|a| a.to_ascii_lowercase().starts_with(proxy));
            }
            if entry.contains('@') {
                return primary == entry;
            }
            let local = primary.split('@').next().unwrap_or("");
            local.starts_with(&entry)
                || u.display_name.as_deref().is_some_and(|d| {
                    let d = d.to_ascii_lowercase();
                    d.starts_with(&entry) || d.split_whitespace().any(|w| w.starts_with(&entry))
                })
        })
        .take(100)
        .collect();
    if matches.is_empty() {
        return error_message(operation, "ErrorNameResolutionNoResults", "No results were found.", "");
    }
    let mut set = String::new();
    for u in &matches {
        let name = escape(u.display_name.as_deref().unwrap_or(&u.address));
        let address = escape(&u.address);
        let _ = write!(
            set,
            "<t:Resolution><t:Mailbox><t:Name>{name}</t:Name><t:EmailAddress>{address}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>"
        );
        if full {
            let _ = write!(
                set,
                "<t:Contact><t:DisplayName>{name}</t:DisplayName><t:EmailAddresses><t:Entry Key=\"EmailAddress1\">SMTP:{address}</t:Entry></t:EmailAddresses><t:ContactSource>ActiveDirectory</t:ContactSource></t:Contact>"
            );
        }
        set.push_str("</t:Resolution>");
    }
    let (class, head) = if matches.len() == 1 {
        ("Success", "<m:ResponseCode>NoError</m:ResponseCode>".to_string())
    } else {
        (
            "Warning",
            "<m:MessageText>Multiple results were found.</m:MessageText><m:ResponseCode>ErrorNameResolutionMultipleResults</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>".to_string(),
        )
    };
    format!(
        "<m:ResolveNamesResponseMessage ResponseClass=\"{class}\">{head}<m:ResolutionSet TotalItemsInView=\"{n}\" IncludesLastItemInRange=\"true\">{set}</m:ResolutionSet></m:ResolveNamesResponseMessage>",
        n = matches.len()
    )
}

/// GetServerTimeZones: the lab's servers know UTC (the zone its items and
/// exchangelib's requests use); ids it does not know are left out.
pub fn server_time_zones(op: &Element) -> String {
    let asked: Vec<&str> = op
        .child("Ids")
        .map(|ids| ids.children.iter().map(|i| i.text.trim()).collect())
        .unwrap_or_default();
    let full = op.attr("ReturnFullTimeZoneData").is_none_or(|v| v.trim() != "false");
    let mut out = String::from("<m:GetServerTimeZonesResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:TimeZoneDefinitions>");
    if asked.is_empty() || asked.contains(&"UTC") {
        out.push_str("<t:TimeZoneDefinition Id=\"UTC\" Name=\"(UTC) Coordinated Universal Time\"");
        if full {
            out.push_str("><t:Periods><t:Period Bias=\"PT0H\" Name=\"Standard\" Id=\"trule:Microsoft/Registry/UTC/1-Standard\"/></t:Periods><t:TransitionsGroups><t:TransitionsGroup Id=\"0\"><t:Transition><t:To Kind=\"Period\">trule:Microsoft/Registry/UTC/1-Standard</t:To></t:Transition></t:TransitionsGroup></t:TransitionsGroups><t:Transitions><t:Transition><t:To Kind=\"Group\">0</t:To></t:Transition></t:Transitions></t:TimeZoneDefinition>");
        } else {
            out.push_str("/>");
        }
    }
    out.push_str("</m:TimeZoneDefinitions></m:GetServerTimeZonesResponseMessage>");
    out
}

/// Seconds since the epoch of an xs:dateTime; without a zone it is local time
/// of a zone with EWS's `Bias` (minutes; UTC = local + bias).
fn instant(text: &str, bias_minutes: i64) -> Option<i64> {
    let text = text.trim();
    let head = text.get(..19)?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let local = time::PrimitiveDateTime::parse(head, format).ok()?;
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset_minutes = match rest {
        // A zone's bias is at most a day either way.
        "" if (-1440..=1440).contains(&bias_minutes) => -bias_minutes,
        "" => return None,
        "Z" => 0,
        zone => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = zone.get(1..)?.split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            if !(0..=14).contains(&h) || !(0..=59).contains(&m) {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    local.assume_utc().unix_timestamp().checked_sub(offset_minutes * 60)
}

/// An instant as local time of a zone `bias` minutes behind UTC, without offset.
fn local_text(seconds: i64, bias_minutes: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    seconds
        .checked_sub(bias_minutes.clamp(-1440, 1440) * 60)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// The longest window GetUserAvailability answers, as Exchange's default (42 days).
const MAX_AVAILABILITY_DAYS: i64 = 42;

/// GetUserAvailability: free/busy of each mailbox asked, in order. `lookup`
/// finds a mailbox the caller may see. Callers get free/busy only (the
/// default calendar permission, AvailabilityOnly): a Detailed view is
/// answered as FreeBusy, as Exchange does when details are not shared.
/// Returns the whole response element, or `Err((code, text))` for a fault.
pub fn get_user_availability<'a>(
    op: &Element,
    lookup: impl Fn(&str) -> Option<&'a UserSpec>,
) -> Result<String, (&'static str, &'static str)> {
    let bias: i64 = match op.path(&["TimeZone", "Bias"]).map(|b| b.text.trim().parse::<i64>()) {
        None => 0,
        Some(Ok(b)) if (-1440..=1440).contains(&b) => b,
        Some(_) => return Err(("ErrorTimeZone", "The time zone is invalid.")),
    };
    let options = op.child("FreeBusyViewOptions");
    let window = options.and_then(|o| o.child("TimeWindow"));
    let from = window
        .and_then(|w| w.child_text("StartTime"))
        .and_then(|s| instant(s, bias));
    let to = window
        .and_then(|w| w.child_text("EndTime"))
        .and_then(|s| instant(s, bias));
    let (Some(from), Some(to)) = (from, to) else {
        return Err(("ErrorInvalidRequest", "The request is invalid."));
    };
    if to <= from {
        return Err(("ErrorInvalidTimeInterval", "The time interval is invalid."));
    }
    if to - from > MAX_AVAILABILITY_DAYS * 86_400 {
        return Err(("ErrorTimeIntervalTooBig", "The time interval is too big."));
    }
    let interval: i64 = options
        .and_then(|o| o.child_text("MergedFreeBusyIntervalInMinutes"))
        .and_then(|m| m.parse().ok())
        .unwrap_or(30)
        .clamp(5, 1440);
    let requested = options
        .and_then(|o| o.child_text("RequestedView"))
        .unwrap_or("Detailed");
    let merged = requested.contains("Merged");
    let view = match requested {
        "MergedOnly" => "MergedOnly",
        _ if merged => "FreeBusyMerged",
        _ => "FreeBusy",
    };
    let mut out = String::from("<GetUserAvailabilityResponse xmlns=\"http://schemas.microsoft.com/exchange/services/2006/messages\"><FreeBusyResponseArray>");
    let asked: Vec<&str> = op
        .child("MailboxDataArray")
        .map(|a| {
            a.children_named("MailboxData")
                .filter_map(|d| d.path(&["Email", "Address"]))
                .map(|e| e.text.trim())
                .collect()
        })
        .unwrap_or_default();
    // The limits the ResponseCode reference gives.
    if asked.is_empty() {
        return Err(("ErrorMailboxDataArrayEmpty", "The MailboxDataArray is empty."));
    }
    if asked.len() > 100 {
        return Err(("ErrorMailboxDataArrayTooBig", "More than 100 mailboxes were asked for."));
    }
    for address in asked {
        let Some(user) = lookup(address) else {
            // The text Exchange's availability service gives (as relayed by Graph's getSchedule,
            // microsoftgraph/microsoft-graph-docs#11225).
            let _ = write!(
                out,
                "<FreeBusyResponse><ResponseMessage ResponseClass=\"Error\"><MessageText>Unable to resolve e-mail address {} to an Active Directory object.</MessageText><ResponseCode>ErrorMailRecipientNotFound</ResponseCode><DescriptiveLinkKey>0</DescriptiveLinkKey></ResponseMessage><FreeBusyView><FreeBusyViewType xmlns=\"{TYPES_NS}\">None</FreeBusyViewType></FreeBusyView></FreeBusyResponse>",
                escape(address)
            );
            continue;
        };
        let _ = user;
        let events: Vec<(i64, i64)> = items_of("calendar")
            .filter_map(|i| Some((instant(i.time, 0)?, instant(i.end?, 0)?)))
            .filter(|(s, e)| *s < to && *e > from)
            .collect();
        let _ = write!(
            out,
            "<FreeBusyResponse><ResponseMessage ResponseClass=\"Success\"><ResponseCode>NoError</ResponseCode></ResponseMessage><FreeBusyView><FreeBusyViewType xmlns=\"{TYPES_NS}\">{view}</FreeBusyViewType>"
        );
        if merged {
            let slots = ((to - from) + interval * 60 - 1) / (interval * 60);
            let merged: String = (0..slots)
                .map(|k| {
                    let (s, e) = (from + k * interval * 60, from + (k + 1) * interval * 60);
                    if events.iter().any(|(a, b)| *a < e && *b > s) {
                        '2'
                    } else {
                        '0'
                    }
                })
                .collect();
            let _ = write!(out, "<MergedFreeBusy xmlns=\"{TYPES_NS}\">{merged}</MergedFreeBusy>");
        }
        if view != "MergedOnly" {
            let _ = write!(out, "<CalendarEventArray xmlns=\"{TYPES_NS}\">");
            for (s, e) in &events {
                let _ = write!(
                    out,
                    "<CalendarEvent><StartTime>{}</StartTime><EndTime>{}</EndTime><BusyType>Busy</BusyType></CalendarEvent>",
                    local_text(*s, bias),
                    local_text(*e, bias)
                );
            }
            out.push_str("</CalendarEventArray>");
        }
        let _ = write!(
            out,
            "<WorkingHours xmlns=\"{TYPES_NS}\"><TimeZone><Bias>0</Bias><StandardTime><Bias>0</Bias><Time>02:00:00</Time><DayOrder>5</DayOrder><Month>10</Month><DayOfWeek>Sunday</DayOfWeek></StandardTime><DaylightTime><Bias>0</Bias><Time>02:00:00</Time><DayOrder>1</DayOrder><Month>4</Month><DayOfWeek>Sunday</DayOfWeek></DaylightTime></TimeZone><WorkingPeriodArray><WorkingPeriod><DayOfWeek>Monday Tuesday Wednesday Thursday Friday</DayOfWeek><StartTimeInMinutes>480</StartTimeInMinutes><EndTimeInMinutes>1020</EndTimeInMinutes></WorkingPeriod></WorkingPeriodArray></WorkingHours></FreeBusyView></FreeBusyResponse>"
        );
    }
    out.push_str("</FreeBusyResponseArray></GetUserAvailabilityResponse>");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserSpec {
        UserSpec {
            address: "alice@contoso.com".into(),
            aliases: vec!["a.smith@contoso.com".into()],
            display_name: Some("Alice Smith".into()),
            mailbox: true,
            redirect_addr: None,
            redirect_url: None,
            ews_url: None,
            groups: vec![],
            denied_folders: vec!["calendar".into()],
            upn: None,
            sid: None,
            ews_enabled: None,
            properties: Default::default(),
        }
    }

    fn op(xml: &str) -> Element {
        let doc =
            crate::protocol::xml::parse(format!("<m:Op xmlns:m=\"urn:m\" xmlns:t=\"urn:t\">{xml}</m:Op>").as_bytes())
                .expect("test XML");
        doc.root
    }

    #[test]
    fn instants_read_zones_and_local_time() {
        assert_eq!(
            instant("2026-06-01T09:00:00Z", 0),
            instant("2026-06-01T11:00:00+02:00", 0)
        );
        assert_eq!(
            instant("2026-06-01T09:00:00.000Z", 0),
            instant("2026-06-01T09:00:00", 0)
        );
        // Bias -60 (UTC+1): local 10:00 is 09:00 UTC.
        assert_eq!(instant("2026-06-01T10:00:00", -60), instant("2026-06-01T09:00:00Z", 0));
        assert_eq!(
            local_text(instant("2026-06-01T09:00:00Z", 0).expect("instant"), -60),
            "2026-06-01T10:00:00"
        );
        assert_eq!(instant("junk", 0), None);
    }

    #[test]
    fn paging_walks_the_inbox_and_ends_with_the_last_item() {
        let u = user();
        let first = find_item(&u, &op("<m:IndexedPageItemView MaxEntriesReturned=\"2\" Offset=\"0\" BasePoint=\"Beginning\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds>"));
        assert!(
            first.contains("IndexedPagingOffset=\"2\" TotalItemsInView=\"3\" IncludesLastItemInRange=\"false\""),
            "{first}"
        );
        assert_eq!(first.matches("<t:Message>").count(), 2);
        let next = find_item(&u, &op("<m:IndexedPageItemView MaxEntriesReturned=\"2\" Offset=\"2\" BasePoint=\"Beginning\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds>"));
        assert!(
            next.contains("IndexedPagingOffset=\"3\" TotalItemsInView=\"3\" IncludesLastItemInRange=\"true\""),
            "{next}"
        );
        assert!(next.contains("Lunch on Friday?"));
        // A folder GetFolder may not open is refused for FindItem too.
        let denied = find_item(
            &u,
            &op("<m:ParentFolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:ParentFolderIds>"),
        );
        assert!(denied.contains("ErrorAccessDenied"), "{denied}");
    }

    #[test]
    fn sync_state_resumes_and_a_foreign_state_is_invalid() {
        let u = user();
        let first = sync_folder_items(&u, &op("<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id=\"inbox\"/></m:SyncFolderId><m:MaxChangesReturned>2</m:MaxChangesReturned>"));
        assert!(first.contains("<m:IncludesLastItemInRange>false<"), "{first}");
        assert_eq!(first.matches("<t:Create>").count(), 2);
        let state = first
            .split("<m:SyncState>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect("a SyncState");
        let rest = sync_folder_items(&u, &op(&format!("<m:SyncFolderId><t:DistinguishedFolderId Id=\"inbox\"/></m:SyncFolderId><m:SyncState>{state}</m:SyncState><m:MaxChangesReturned>2</m:MaxChangesReturned>")));
        assert!(rest.contains("<m:IncludesLastItemInRange>true<"), "{rest}");
        assert_eq!(rest.matches("<t:Create>").count(), 1);
        let foreign = sync_folder_items(&u, &op(&format!("<m:SyncFolderId><t:DistinguishedFolderId Id=\"contacts\"/></m:SyncFolderId><m:SyncState>{state}</m:SyncState><m:MaxChangesReturned>2</m:MaxChangesReturned>")));
        assert!(foreign.contains("ErrorInvalidSyncStateData"), "{foreign}");
    }

    #[test]
    fn names_resolve_by_prefix_primary_address_and_proxy() {
        let alice = user();
        let alan = UserSpec {
            address: "alan@contoso.com".into(),
            display_name: Some("Alan Turing".into()),
            aliases: vec![],
            ..user()
        };
        let all = [&alice, &alan];
        let one = resolve_names(&all, &op("<m:UnresolvedEntry>Alice</m:UnresolvedEntry>"));
        assert!(
            one.contains("ResponseClass=\"Success\"") && one.contains("alice@contoso.com"),
            "{one}"
        );
        let two = resolve_names(&all, &op("<m:UnresolvedEntry>al</m:UnresolvedEntry>"));
        assert!(
            two.contains("ErrorNameResolutionMultipleResults") && two.contains("TotalItemsInView=\"2\""),
            "{two}"
        );
        // An alias resolves only with its routing type.
        let alias = resolve_names(&all, &op("<m:UnresolvedEntry>a.smith@contoso.com</m:UnresolvedEntry>"));
        assert!(alias.contains("ErrorNameResolutionNoResults"), "{alias}");
        let proxy = resolve_names(
            &all,
            &op("<m:UnresolvedEntry>smtp:a.smith@contoso.com</m:UnresolvedEntry>"),
        );
        assert!(proxy.contains("<t:EmailAddress>alice@contoso.com<"), "{proxy}");
    }

    #[test]
    fn availability_marks_the_meeting_busy_in_the_callers_zone() {
        let u = user();
        let body = get_user_availability(
            &op("<t:TimeZone><t:Bias>-60</t:Bias></t:TimeZone><m:MailboxDataArray><t:MailboxData><t:Email><t:Address>alice@contoso.com</t:Address></t:Email></t:MailboxData><t:MailboxData><t:Email><t:Address>nobody@contoso.com</t:Address></t:Email></t:MailboxData></m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2026-06-01T10:00:00</t:StartTime><t:EndTime>2026-06-01T12:00:00</t:EndTime></t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>30</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>DetailedMerged</t:RequestedView></t:FreeBusyViewOptions>"),
            |a| (a == "alice@contoso.com").then_some(&u),
        )
        .expect("availability");
        assert!(body.contains(">FreeBusyMerged<") && body.contains(">2000<"), "{body}");
        assert!(body.contains("<StartTime>2026-06-01T10:00:00</StartTime>"), "{body}");
        assert!(body.contains("ErrorMailRecipientNotFound"), "{body}");
        let too_big = get_user_availability(
            &op("<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2026-01-01T00:00:00Z</t:StartTime><t:EndTime>2026-12-01T00:00:00Z</t:EndTime></t:TimeWindow></t:FreeBusyViewOptions>"),
            |_| None,
        );
        assert_eq!(too_big.expect_err("42 days at most").0, "ErrorTimeIntervalTooBig");
    }

    #[test]
    fn folder_ids_open_only_their_own_mailbox() {
        let u = user();
        let other = UserSpec {
            address: "bob@contoso.com".into(),
            ..user()
        };
        let id = folder_id("tasks", &u);
        let mine = get_folder(
            &u,
            &op(&format!("<m:FolderIds><t:FolderId Id=\"{id}\"/></m:FolderIds>")),
        );
        assert!(mine.contains("<t:TasksFolder>"), "{mine}");
        let theirs = get_folder(
            &other,
            &op(&format!("<m:FolderIds><t:FolderId Id=\"{id}\"/></m:FolderIds>")),
        );
        assert!(theirs.contains("ErrorFolderNotFound"), "{theirs}");
        let junk = get_folder(&u, &op("<m:FolderIds><t:FolderId Id=\"%%%\"/></m:FolderIds>"));
        assert!(junk.contains("ErrorInvalidIdMalformed"), "{junk}");
        let deep = find_folder(
            &u,
            &op("<m:ParentFolderIds><t:DistinguishedFolderId Id=\"root\"/></m:ParentFolderIds>").tap_deep(),
        );
        assert!(deep.contains("TotalItemsInView=\"11\""), "{deep}");
    }

    #[test]
    fn hostile_values_get_errors_not_panics() {
        assert_eq!(instant("2026-06-01T09:00:00", i64::MIN), None);
        assert_eq!(instant("2026-06-01T09:00:00+99999999999999999:00", 0), None);
        assert_eq!(instant("2026-06-01T09:00:00+é", 0), None);
        let window = "<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2026-06-01T00:00:00Z</t:StartTime><t:EndTime>2026-06-02T00:00:00Z</t:EndTime></t:TimeWindow></t:FreeBusyViewOptions>";
        let bias = get_user_availability(
            &op(&format!(
                "<t:TimeZone><t:Bias>-9223372036854775808</t:Bias></t:TimeZone>{window}"
            )),
            |_| None,
        );
        assert_eq!(bias.expect_err("bias").0, "ErrorTimeZone");
        let many: String = (0..101)
            .map(|i| {
                format!("<t:MailboxData><t:Email><t:Address>u{i}@contoso.com</t:Address></t:Email></t:MailboxData>")
            })
            .collect();
        let too_many = get_user_availability(
            &op(&format!("<m:MailboxDataArray>{many}</m:MailboxDataArray>{window}")),
            |_| None,
        );
        assert_eq!(too_many.expect_err("101").0, "ErrorMailboxDataArrayTooBig");
        let u = user();
        // Paging from the end: the first page from the end is not the last in range.
        let end = find_item(&u, &op("<m:IndexedPageItemView MaxEntriesReturned=\"2\" Offset=\"0\" BasePoint=\"End\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds>"));
        assert!(
            end.contains("IncludesLastItemInRange=\"false\"") && end.contains("Lunch on Friday?"),
            "{end}"
        );
        // A denied folder's item is denied by id too; another mailbox's folder is not opened.
        let id = item_id("calendar", 0, &u);
        let item = get_item(&u, &op(&format!("<m:ItemIds><t:ItemId Id=\"{id}\"/></m:ItemIds>")));
        assert!(item.contains("ErrorAccessDenied"), "{item}");
        let other = get_folder(&u, &op("<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"><t:Mailbox><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds>"));
        assert!(other.contains("ErrorAccessDenied"), "{other}");
        let mine = get_folder(&u, &op("<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"><t:Mailbox><t:EmailAddress>a.smith@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds>"));
        assert!(mine.contains("NoError"), "{mine}");
        let backwards = find_item(&u, &op("<m:CalendarView StartDate=\"2026-12-01T00:00:00Z\" EndDate=\"2026-01-01T00:00:00Z\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"contacts\"/></m:ParentFolderIds>"));
        assert!(
            backwards.contains("ErrorCalendarFolderIsInvalidForCalendarView"),
            "{backwards}"
        );
    }

    trait Deep {
        fn tap_deep(self) -> Self;
    }
    impl Deep for Element {
        fn tap_deep(mut self) -> Self {
            self.attrs.push(("Traversal".into(), "Deep".into()));
            self
        }
    }
}
