//! The event struct handed to callbacks, its kinds, and the callback type.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use crate::event::{Event, EventKind};
use m365sync_ffi_support::strings::to_cstring;

/// What happened; mirrors the Rust `EventKind` numbers, which only grow.
// A mirror rather than cbindgen reading src/event.rs: the header then depends
// only on src/ffi/, and the exhaustive `From` below fails to compile when a kind
// is added without its C twin.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum m365sync_event_kind {
    /// A new item appeared.
    Created = 1,
    /// A file's content changed.
    ContentChanged = 2,
    /// Only metadata changed (eTag).
    MetadataChanged = 3,
    /// The item was renamed within the same parent.
    Renamed = 4,
    /// The item moved to another parent (possibly renamed too).
    Moved = 5,
    /// The item was deleted; for a folder, its whole subtree is gone.
    Deleted = 6,
    /// The item's sharing changed.
    PermissionsChanged = 7,
    /// The drive's delta token expired; a full re-enumeration started.
    ResyncStarted = 8,
    /// The re-enumeration finished.
    ResyncCompleted = 9,
    /// The first full crawl of a drive finished.
    CrawlCompleted = 10,
    /// A change-notification subscription was created.
    SubscriptionCreated = 11,
    /// The drive's subscription was renewed.
    SubscriptionRenewed = 12,
    /// The drive's subscription was lost.
    SubscriptionLost = 13,
    /// A drive came into scope.
    DriveAdded = 14,
    /// A drive left scope or disappeared.
    DriveRemoved = 15,
    /// A persistent error on the drive; `detail` says what.
    Error = 16,
    /// The managed mirror stored a file's content; `detail` is the local path.
    ContentStored = 17,
}

impl From<EventKind> for m365sync_event_kind {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Created => m365sync_event_kind::Created,
            EventKind::ContentChanged => m365sync_event_kind::ContentChanged,
            EventKind::MetadataChanged => m365sync_event_kind::MetadataChanged,
            EventKind::Renamed => m365sync_event_kind::Renamed,
            EventKind::Moved => m365sync_event_kind::Moved,
            EventKind::Deleted => m365sync_event_kind::Deleted,
            EventKind::PermissionsChanged => m365sync_event_kind::PermissionsChanged,
            EventKind::ResyncStarted => m365sync_event_kind::ResyncStarted,
            EventKind::ResyncCompleted => m365sync_event_kind::ResyncCompleted,
            EventKind::CrawlCompleted => m365sync_event_kind::CrawlCompleted,
            EventKind::SubscriptionCreated => m365sync_event_kind::SubscriptionCreated,
            EventKind::SubscriptionRenewed => m365sync_event_kind::SubscriptionRenewed,
            EventKind::SubscriptionLost => m365sync_event_kind::SubscriptionLost,
            EventKind::DriveAdded => m365sync_event_kind::DriveAdded,
            EventKind::DriveRemoved => m365sync_event_kind::DriveRemoved,
            EventKind::Error => m365sync_event_kind::Error,
            EventKind::ContentStored => m365sync_event_kind::ContentStored,
        }
    }
}

/// One journal event. Borrowed: the struct and its strings are valid only during
/// the callback that receives it; copy what you keep. Strings are UTF-8,
/// NUL-terminated and never NULL (empty when not applicable).
#[repr(C)]
#[derive(Debug)]
pub struct m365sync_event {
    /// Position in the journal; strictly increasing.
    pub seq: i64,
    /// What happened.
    pub kind: m365sync_event_kind,
    /// The drive concerned. Tenant-level events (discovery errors, the `/sites` and
    /// `/groups` subscriptions' events) carry the Graph collection they concern
    /// instead, starting with `/` so it is never a drive id: `/sites`, `/users`,
    /// `/groups`, or `/` for a discovery round that failed as a whole.
    pub drive_id: *const c_char,
    /// The item concerned; empty for drive-level events.
    pub item_id: *const c_char,
    /// Path after the change (`/` is the drive root); empty when unknown.
    pub path: *const c_char,
    /// Path before a rename or move; empty otherwise.
    pub old_path: *const c_char,
    /// cTag after the change, when Graph sent one.
    pub ctag: *const c_char,
    /// eTag after the change, when Graph sent one.
    pub etag: *const c_char,
    /// Size in bytes (0 for folders and drive-level events).
    pub size: i64,
    /// Whether the item is a folder.
    pub is_folder: bool,
    /// Milliseconds since the Unix epoch when the engine recorded the event.
    pub at_ms: i64,
    /// Free text for drive-level events (error message, subscription id); empty otherwise.
    pub detail: *const c_char,
    /// The item's facets as a JSON object (`package`, `malware`, `remote`, `mime_type`,
    /// `hashes`, `created_by`, `modified_by`, `web_url`, `sharepoint_ids`,
    /// `fs_created`, `fs_modified`; absent keys were not reported); `{}` for none.
    pub facets_json: *const c_char,
}

/// Receives one borrowed event. Return 0 to accept it; any other value refuses it.
/// `userdata` is the pointer given at registration.
pub type m365sync_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const m365sync_event) -> c_int>;

/// The host's `void *userdata`, which the host promises may be used from the
/// threads named in the function that takes it.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut c_void);

// SAFETY: the host's documented promise (see the callback-taking functions).
unsafe impl Send for UserData {}
// SAFETY: as above; m365sync only passes the pointer back, never dereferences it.
unsafe impl Sync for UserData {}

/// A host event callback with its userdata.
#[derive(Clone, Copy)]
pub(crate) struct EventSink {
    callback: unsafe extern "C" fn(*mut c_void, *const m365sync_event) -> c_int,
    userdata: UserData,
}

impl EventSink {
    /// `None` when the callback pointer is NULL.
    pub(crate) fn new(callback: m365sync_event_callback, userdata: *mut c_void) -> Option<Self> {
        callback.map(|callback| EventSink {
            callback,
            userdata: UserData(userdata),
        })
    }

    /// Calls the host with `event` borrowed for the call; true when it returned 0.
    pub(crate) fn deliver(&self, event: &Event) -> bool {
        let strings = EventStrings::new(event);
        let c_event = strings.borrow(event);
        // SAFETY: the host registered a valid function; the struct and its strings
        // live until the call returns.
        unsafe { (self.callback)(self.userdata.0, &c_event) == 0 }
    }
}

/// The NUL-terminated copies of an event's strings, alive while the host reads them.
struct EventStrings {
    drive_id: CString,
    item_id: CString,
    path: CString,
    old_path: CString,
    ctag: CString,
    etag: CString,
    detail: CString,
    facets_json: CString,
}

impl EventStrings {
    fn new(e: &Event) -> Self {
        EventStrings {
            drive_id: to_cstring(&e.drive_id),
            item_id: to_cstring(&e.item_id),
            path: to_cstring(&e.path),
            old_path: to_cstring(&e.old_path),
            ctag: to_cstring(&e.ctag),
            etag: to_cstring(&e.etag),
            detail: to_cstring(&e.detail),
            facets_json: to_cstring(&serde_json::to_string(&e.facets).unwrap_or_default()),
        }
    }

    fn borrow(&self, e: &Event) -> m365sync_event {
        m365sync_event {
            seq: e.seq,
            kind: e.kind.into(),
            drive_id: self.drive_id.as_ptr(),
            item_id: self.item_id.as_ptr(),
            path: self.path.as_ptr(),
            old_path: self.old_path.as_ptr(),
            ctag: self.ctag.as_ptr(),
            etag: self.etag.as_ptr(),
            size: e.size,
            is_folder: e.is_folder,
            at_ms: e.at_ms,
            detail: self.detail.as_ptr(),
            facets_json: self.facets_json.as_ptr(),
        }
    }
}

/// The snake_case name of an event kind (e.g. `"content_changed"`), as in JSON
/// and the CLI; `"unknown"` for a number that is not an `m365sync_event_kind`.
/// Static; never NULL; never freed. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn m365sync_event_kind_str(kind: u32) -> *const c_char {
    ffi_panic_boundary! {
        let name = match EventKind::ALL.into_iter().find(|k| *k as u32 == kind) {
            Some(k) => kind_name(k),
            None => c"unknown",
        };
        name.as_ptr()
    }
}

/// The NUL-terminated name of a kind, built once from `EventKind::as_str`.
fn kind_name(kind: EventKind) -> &'static CStr {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        EventKind::ALL
            .into_iter()
            .map(|k| to_cstring(k.as_str()))
            .collect()
    });
    let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    &names[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_mirror_the_rust_numbers_and_names() {
        for k in EventKind::ALL {
            assert_eq!(m365sync_event_kind::from(k) as u32, k as u32);
            assert_eq!(kind_name(k).to_str().unwrap(), k.as_str());
            // SAFETY: the function returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(m365sync_event_kind_str(k as u32)) };
            assert_eq!(name.to_str().unwrap(), k.as_str());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(m365sync_event_kind_str(999)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown");
    }
}
