//! What a lab mailbox holds: the distinguished folders (root, msgfolderroot
//! and the default folders below it) and a few items in them, and what
//! exprobe's own probes read of it: GetFolder (the impersonation probe) and
//! the Graph messages (the Graph probe). The operations only real clients
//! exercise (exchangelib, in the peer tests) are apart, in [`clients`].
//! Answers follow the shapes of Microsoft's EWS reference
//! (office-developer-exchange-docs: the operation pages' response examples). Every mailbox of a scenario holds the same contents; ids carry
//! the mailbox's address, so one mailbox's ids do not open another's.

use std::fmt::Write as _;

use base64::Engine as _;

use super::scenario::UserSpec;
use crate::protocol::ews::TYPES_NS;
use crate::protocol::pox::escape;
use crate::protocol::xml::Element;

pub mod clients;

/// A distinguished folder: its id, the element EWS names it by, its class,
/// display name and parent.
pub struct FolderDef {
    pub id: &'static str,
    element: &'static str,
    class: Option<&'static str>,
    name: &'static str,
    parent: Option<&'static str>,
}

pub(super) const fn folder(
    id: &'static str,
    element: &'static str,
    class: Option<&'static str>,
    name: &'static str,
    parent: &'static str,
) -> FolderDef {
    FolderDef {
        id,
        element,
        class,
        name,
        parent: Some(parent),
    }
}

/// The folder tree of every lab mailbox, parents before children.
pub const FOLDERS: &[FolderDef] = &[
    FolderDef {
        id: "root",
        element: "Folder",
        class: None,
        name: "",
        parent: None,
    },
    folder("msgfolderroot", "Folder", None, "Top of Information Store", "root"),
    folder("inbox", "Folder", Some("IPF.Note"), "Inbox", "msgfolderroot"),
    folder("drafts", "Folder", Some("IPF.Note"), "Drafts", "msgfolderroot"),
    folder("sentitems", "Folder", Some("IPF.Note"), "Sent Items", "msgfolderroot"),
    folder(
        "deleteditems",
        "Folder",
        Some("IPF.Note"),
        "Deleted Items",
        "msgfolderroot",
    ),
    folder("outbox", "Folder", Some("IPF.Note"), "Outbox", "msgfolderroot"),
    folder("junkemail", "Folder", Some("IPF.Note"), "Junk Email", "msgfolderroot"),
    folder(
        "calendar",
        "CalendarFolder",
        Some("IPF.Appointment"),
        "Calendar",
        "msgfolderroot",
    ),
    folder(
        "contacts",
        "ContactsFolder",
        Some("IPF.Contact"),
        "Contacts",
        "msgfolderroot",
    ),
    folder("tasks", "TasksFolder", Some("IPF.Task"), "Tasks", "msgfolderroot"),
    folder("notes", "Folder", Some("IPF.StickyNote"), "Notes", "msgfolderroot"),
];

/// An item of a folder: element, class, subject, and its time (received for
/// mail, start for a meeting, with the meeting's end).
pub(super) struct ItemDef {
    folder: &'static str,
    element: &'static str,
    class: &'static str,
    subject: &'static str,
    time: &'static str,
    end: Option<&'static str>,
    read: bool,
}

pub(super) const fn item(
    folder: &'static str,
    element: &'static str,
    class: &'static str,
    subject: &'static str,
    time: &'static str,
) -> ItemDef {
    ItemDef {
        folder,
        element,
        class,
        subject,
        time,
        end: None,
        read: true,
    }
}

/// Items per folder, newest first (FindItem's order without a SortOrder).
pub(super) const ITEMS: &[ItemDef] = &[
    ItemDef {
        read: false,
        ..item(
            "inbox",
            "Message",
            "IPM.Note",
            "Welcome to Contoso",
            "2026-06-01T08:00:00Z",
        )
    },
    item(
        "inbox",
        "Message",
        "IPM.Note",
        "Quarterly report",
        "2026-05-28T14:30:00Z",
    ),
    item(
        "inbox",
        "Message",
        "IPM.Note",
        "Lunch on Friday?",
        "2026-05-20T11:05:00Z",
    ),
    ItemDef {
        end: Some("2026-06-01T09:30:00Z"),
        ..item(
            "calendar",
            "CalendarItem",
            "IPM.Appointment",
            "Weekly sync",
            "2026-06-01T09:00:00Z",
        )
    },
    item("contacts", "Contact", "IPM.Contact", "Pat Lee", "2026-01-15T10:00:00Z"),
    item(
        "tasks",
        "Task",
        "IPM.Task",
        "Renew the certificate",
        "2026-02-01T10:00:00Z",
    ),
];

pub const FOLDER_CHANGE_KEY: &str = "AQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAE";

pub(super) const ITEM_CHANGE_KEY: &str = "CQAAABYAAAA7bxyXx5VvQLQd1uQdCqoKAAAAAAAG";

pub(super) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(super) fn unb64(id: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(id.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

pub fn folder_id(folder: &str, user: &UserSpec) -> String {
    b64(&format!("exprobe-lab-{folder}:{}", user.address.to_ascii_lowercase()))
}

pub(super) fn item_id(folder: &str, n: usize, user: &UserSpec) -> String {
    b64(&format!(
        "exprobe-lab-item-{folder}-{n}:{}",
        user.address.to_ascii_lowercase()
    ))
}

pub(super) fn items_of(folder: &str) -> impl Iterator<Item = &'static ItemDef> + '_ {
    ITEMS.iter().filter(move |i| i.folder == folder)
}

pub(super) fn children_of(folder: &str) -> impl Iterator<Item = &'static FolderDef> + '_ {
    FOLDERS.iter().filter(move |f| f.parent == Some(folder))
}

pub(super) fn denied(user: &UserSpec, folder: &FolderDef) -> bool {
    user.denied_folders.iter().any(|d| d.eq_ignore_ascii_case(folder.id))
}

/// What a folder reference of a request names.
pub(super) enum FolderRef {
    Found(&'static FolderDef),
    /// A distinguished name this mailbox has no folder for, or another mailbox's id.
    NotFound,
    Malformed,
    /// A folder of another mailbox named (delegate access), which the lab grants to no one.
    OtherMailbox,
}

pub(super) fn folder_ref(user: &UserSpec, e: &Element) -> FolderRef {
    // Delegate access names another mailbox: the lab grants no delegate rights.
    let named = e.path(&["Mailbox", "EmailAddress"]).map(|m| m.text.trim());
    if named.is_some_and(|m| {
        !m.eq_ignore_ascii_case(&user.address) && !user.aliases.iter().any(|a| a.eq_ignore_ascii_case(m))
    }) {
        return FolderRef::OtherMailbox;
    }
    match e.name.as_str() {
        "DistinguishedFolderId" => e
            .attr("Id")
            .and_then(|id| FOLDERS.iter().find(|f| f.id == id))
            .map_or(FolderRef::NotFound, FolderRef::Found),
        _ => {
            let Some(decoded) = e.attr("Id").and_then(unb64) else {
                return FolderRef::Malformed;
            };
            match decoded
                .strip_prefix("exprobe-lab-")
                .and_then(|rest| rest.split_once(':'))
            {
                Some((name, address)) if address.eq_ignore_ascii_case(&user.address) => FOLDERS
                    .iter()
                    .find(|f| f.id == name)
                    .map_or(FolderRef::NotFound, FolderRef::Found),
                Some(_) => FolderRef::NotFound,
                None => FolderRef::Malformed,
            }
        }
    }
}

/// The folder references under `container` (FolderIds, ParentFolderIds, SyncFolderId).
/// The lab answers at most this many folder or item references per request (its own limit).
pub(super) const MAX_REFS: usize = 100;

pub(super) fn refs<'a>(op: &'a Element, container: &str) -> Vec<&'a Element> {
    op.child(container)
        .map(|c| {
            c.children
                .iter()
                .filter(|e| e.name == "DistinguishedFolderId" || e.name == "FolderId")
                .take(MAX_REFS)
                .collect()
        })
        .unwrap_or_default()
}

/// An error response message `{operation}ResponseMessage` with this code and text, and `tail` after it.
pub fn error_message(operation: &str, code: &str, text: &str, tail: &str) -> String {
    format!(
        "<m:{operation}ResponseMessage ResponseClass=\"Error\"><m:MessageText>{}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{tail}</m:{operation}ResponseMessage>",
        escape(text)
    )
}

/// The error message for a folder reference that does not open a folder, if it does not.
pub(super) fn folder_error(operation: &str, user: &UserSpec, found: &FolderRef, tail: &str) -> Option<String> {
    Some(match found {
        FolderRef::Found(f) if denied(user, f) => error_message(
            operation,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            tail,
        ),
        FolderRef::Found(_) => return None,
        FolderRef::NotFound => error_message(
            operation,
            "ErrorFolderNotFound",
            "The specified folder could not be found in the store.",
            tail,
        ),
        FolderRef::Malformed => error_message(operation, "ErrorInvalidIdMalformed", "Id is malformed.", tail),
        FolderRef::OtherMailbox => error_message(
            operation,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            tail,
        ),
    })
}

pub(super) fn render_folder(out: &mut String, f: &FolderDef, user: &UserSpec) {
    let element = f.element;
    let _ = write!(
        out,
        "<t:{element}><t:FolderId Id=\"{}\" ChangeKey=\"{FOLDER_CHANGE_KEY}\"/>",
        folder_id(f.id, user)
    );
    if let Some(parent) = f.parent {
        let _ = write!(
            out,
            "<t:ParentFolderId Id=\"{}\" ChangeKey=\"AQAAAA==\"/>",
            folder_id(parent, user)
        );
    }
    if let Some(class) = f.class {
        let _ = write!(out, "<t:FolderClass>{class}</t:FolderClass>");
    }
    let _ = write!(
        out,
        "<t:DisplayName>{}</t:DisplayName><t:TotalCount>{}</t:TotalCount><t:ChildFolderCount>{}</t:ChildFolderCount>",
        f.name,
        items_of(f.id).count(),
        children_of(f.id).count()
    );
    // UnreadCount belongs to mail folders (the FindFolder reference's example).
    if element == "Folder" {
        let _ = write!(
            out,
            "<t:UnreadCount>{}</t:UnreadCount>",
            items_of(f.id).filter(|i| !i.read).count()
        );
    }
    let _ = write!(out, "</t:{element}>");
}

/// GetFolder: one response message per folder asked, in order.
pub fn get_folder(user: &UserSpec, op: &Element) -> String {
    let mut out = String::new();
    for r in refs(op, "FolderIds") {
        let found = folder_ref(user, r);
        if let Some(e) = folder_error("GetFolder", user, &found, "<m:Folders/>") {
            out.push_str(&e);
            continue;
        }
        let FolderRef::Found(f) = found else { continue };
        out.push_str(
            "<m:GetFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Folders>",
        );
        render_folder(&mut out, f, user);
        out.push_str("</m:Folders></m:GetFolderResponseMessage>");
    }
    out
}

/// The inbox's messages as Graph lists them (`/users/{id}/messages`), newest first, at most `top`.
pub fn graph_messages(user: &UserSpec, top: usize) -> Vec<serde_json::Value> {
    items_of("inbox")
        .enumerate()
        .take(top.min(1000))
        .map(|(n, i)| {
            serde_json::json!({
                "id": item_id("inbox", n, user),
                "receivedDateTime": i.time,
                "subject": i.subject,
                "isRead": i.read,
                "parentFolderId": folder_id("inbox", user),
                "from": {"emailAddress": {"name": "Contoso IT", "address": "it@contoso.com"}},
                "toRecipients": [{"emailAddress": {"address": user.address}}]
            })
        })
        .collect()
}
