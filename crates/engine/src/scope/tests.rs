use proptest::prelude::*;

use super::*;

const SITE: DriveHome<'static> = DriveHome::Site {
    id: "sim.sharepoint.com,1111,2222",
    web_url: "https://sim.sharepoint.com/sites/HR-Team",
};
const USER: DriveHome<'static> = DriveHome::User {
    upn: "Ann.Lee@contoso.com",
};

fn library(name: &'static str) -> DriveFacts<'static> {
    DriveFacts {
        drive_id: "b!lib",
        drive_name: name,
        home: SITE,
    }
}

fn onedrive() -> DriveFacts<'static> {
    DriveFacts {
        drive_id: "b!one",
        drive_name: "OneDrive",
        home: USER,
    }
}

fn scope(json: &str) -> ScopeConfig {
    let s: ScopeConfig = serde_json::from_str(json).unwrap();
    s.validate().unwrap();
    s
}

fn included(s: &ScopeConfig, d: &DriveFacts<'_>) -> bool {
    s.verdict(d).is_included()
}

#[test]
fn glob_basics() {
    assert!(glob_match("", ""));
    assert!(!glob_match("", "a"));
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "anything at all"));
    assert!(glob_match(
        "Preservation Hold Library",
        "preservation hold LIBRARY"
    ));
    assert!(!glob_match(
        "Preservation Hold Library",
        "Preservation Hold Library 2"
    ));
    assert!(glob_match("user?@*", "user7@sim.onmicrosoft.com"));
    assert!(!glob_match("user?@*", "user17@sim.onmicrosoft.com"));
    assert!(glob_match("*/sites/hr*", "https://x/sites/HR-Team"));
    assert!(glob_match("a*b*c", "aXXbYYbZZc"));
    assert!(!glob_match("a*b*c", "aXXbYYbZZ"));
    assert!(glob_match("**a**", "bab"));
    assert!(!glob_match("?", ""));
    assert!(glob_match("ÄR*", "är ok"));
}

#[test]
fn glob_has_no_exponential_blowup() {
    let text = "a".repeat(2000);
    let pattern = format!("{}b", "a*".repeat(50));
    assert!(!glob_match(&pattern, &text));
}

/// The textbook dynamic-programming matcher, as the reference.
fn reference(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
    m[0][0] = true;
    for i in 1..=p.len() {
        m[i][0] = m[i - 1][0] && p[i - 1] == '*';
        for j in 1..=t.len() {
            m[i][j] = match p[i - 1] {
                '*' => m[i - 1][j] || m[i][j - 1],
                '?' => m[i - 1][j - 1],
                c => m[i - 1][j - 1] && c == t[j - 1],
            };
        }
    }
    m[p.len()][t.len()]
}

proptest! {
    #[test]
    fn glob_agrees_with_the_reference(pattern in "[ab*?]{0,8}", text in "[abAB]{0,10}") {
        prop_assert_eq!(glob_match(&pattern, &text), reference(&pattern, &text));
    }

    #[test]
    fn a_text_matches_itself_in_any_case(text in "[a-zA-Z0-9 ._@-]{0,30}") {
        prop_assert!(glob_match(&text, &text.to_uppercase()));
        prop_assert!(glob_match(&text.to_lowercase(), &text));
    }

    #[test]
    fn wildcards_keep_a_match(text in "[a-z]{1,20}", at in 0usize..20, star in any::<bool>()) {
        let at = at % text.len();
        let mut pattern: String = text.chars().take(at).collect();
        pattern.push(if star { '*' } else { '?' });
        pattern.extend(text.chars().skip(at + 1));
        prop_assert!(glob_match(&pattern, &text));
    }

    #[test]
    fn any_input_is_handled(pattern in "\\PC{0,20}", text in "\\PC{0,20}") {
        let _ = glob_match(&pattern, &text);
    }
}

#[test]
fn nothing_is_in_scope_by_default() {
    let s = ScopeConfig::default();
    assert!(!s.is_active());
    assert_eq!(s.verdict(&library("Documents")).reason(), NOT_INCLUDED);
    assert!(!included(&s, &onedrive()));
    assert!(!s.needs_sites() && !s.needs_users());
}

#[test]
fn all_sites_and_all_onedrives_cover_their_kind_only() {
    let s = scope(r#"{"all_sites":true}"#);
    assert_eq!(
        s.verdict(&library("Documents")),
        Verdict::Included("scope.all_sites".into())
    );
    assert!(!included(&s, &onedrive()));
    assert!(s.needs_sites() && !s.needs_users());
    assert!(s.may_include_site("x", "y") && !s.may_include_user("a@b"));

    let s = scope(r#"{"all_onedrives":true}"#);
    assert!(included(&s, &onedrive()));
    assert!(!included(&s, &library("Documents")));
    assert!(!s.needs_sites() && s.needs_users());
}

#[test]
fn exclude_by_drive_name() {
    let s = scope(
        r#"{"all_sites":true,"all_onedrives":true,
            "exclude":[{"drive_name":"preservation hold library"}]}"#,
    );
    let v = s.verdict(&library("Preservation Hold Library"));
    assert_eq!(
        v,
        Verdict::Excluded(r#"exclude[0] (drive_name="preservation hold library")"#.into())
    );
    assert!(included(&s, &library("Documents")));
    assert!(included(&s, &onedrive()));
}

#[test]
fn site_rules_match_the_id_or_the_url() {
    let by_url = scope(r#"{"all_sites":true,"exclude":[{"site":"*/sites/hr-*"}]}"#);
    assert!(!included(&by_url, &library("Documents")));
    let by_id = scope(r#"{"all_sites":true,"exclude":[{"site":"SIM.sharepoint.com,1111,2222"}]}"#);
    assert!(!included(&by_id, &library("Documents")));
    let other = scope(r#"{"all_sites":true,"exclude":[{"site":"*/sites/finance"}]}"#);
    assert!(included(&other, &library("Documents")));

    let include = scope(r#"{"include":[{"site":"*/sites/HR-*","drive_name":"Documents"}]}"#);
    assert!(included(&include, &library("Documents")));
    assert!(
        !included(&include, &library("Archive")),
        "every field must match"
    );
    assert!(!included(&include, &onedrive()), "a OneDrive has no site");
    assert!(include.may_include_site("other", "https://sim.sharepoint.com/sites/hr-team"));
    assert!(!include.may_include_site("other", "https://sim.sharepoint.com/sites/it"));
    assert!(include.needs_sites() && !include.needs_users());
}

#[test]
fn user_rules_match_the_principal_name() {
    let s = scope(r#"{"include":[{"user":"ann.*@contoso.com"}]}"#);
    assert!(included(&s, &onedrive()));
    assert!(
        !included(&s, &library("Documents")),
        "a library has no owner"
    );
    assert!(s.may_include_user("ANN.LEE@contoso.com"));
    assert!(!s.may_include_user("bob@contoso.com"));
    assert!(s.needs_users() && !s.needs_sites());

    let s = scope(r#"{"all_onedrives":true,"exclude":[{"user":"ann*"}]}"#);
    assert!(!included(&s, &onedrive()));
    assert!(
        s.may_include_user("ann@x"),
        "exclusions are decided per drive"
    );
}

#[test]
fn drive_id_rules_match_exactly() {
    let s = scope(r#"{"include":[{"drive_id":"b!one"}]}"#);
    assert!(included(&s, &onedrive()));
    assert!(!included(&s, &library("Documents")));
    assert!(
        s.needs_sites() && s.needs_users(),
        "the id could be anywhere"
    );
    let s = scope(r#"{"include":[{"drive_id":"B!ONE"}]}"#);
    assert!(!included(&s, &onedrive()), "drive ids are case-sensitive");
    let s = scope(r#"{"all_onedrives":true,"exclude":[{"drive_id":"b!one"}]}"#);
    assert_eq!(
        s.verdict(&onedrive()),
        Verdict::Excluded(r#"exclude[0] (drive_id="b!one")"#.into())
    );
}

#[test]
fn exclusion_wins_over_inclusion() {
    let s = scope(r#"{"include":[{"drive_name":"Documents"}],"exclude":[{"site":"*hr-team"}]}"#);
    assert!(!included(&s, &library("Documents")));
}

#[test]
fn invalid_rules_are_rejected_with_their_field() {
    let err = |json: &str| {
        serde_json::from_str::<ScopeConfig>(json)
            .unwrap()
            .validate()
            .unwrap_err()
    };
    assert_eq!(err(r#"{"include":[{}]}"#).0, "scope.include[0]");
    assert_eq!(
        err(r#"{"exclude":[{"site":"a"},{"drive_name":" "}]}"#).0,
        "scope.exclude[1].drive_name"
    );
    assert!(
        err(r#"{"include":[{"site":"a","user":"b"}]}"#)
            .1
            .contains("two rules")
    );
    assert!(serde_json::from_str::<ScopeConfig>(r#"{"include":[{"sites":"a"}]}"#).is_err());
}

#[test]
fn rules_display_their_fields() {
    let r = ScopeRule {
        site: Some("*/sites/a".into()),
        drive_name: Some("Docs".into()),
        ..ScopeRule::default()
    };
    assert_eq!(r.to_string(), r#"site="*/sites/a", drive_name="Docs""#);
}

fn group_drive(site: Option<(&'static str, &'static str)>) -> DriveFacts<'static> {
    DriveFacts {
        drive_id: "b!grp",
        drive_name: "Documents",
        home: DriveHome::Group {
            name: "Marketing Team",
            mail: "marketing@contoso.com",
            site,
        },
    }
}

#[test]
fn all_groups_covers_group_drives_and_all_sites_covers_them_as_libraries() {
    let s = scope(r#"{"all_groups":true}"#);
    assert!(s.is_active() && s.needs_groups());
    assert!(!s.needs_sites() && !s.needs_users());
    assert_eq!(
        s.verdict(&group_drive(None)),
        Verdict::Included("scope.all_groups".into())
    );
    assert!(!included(&s, &library("Documents")));
    assert!(s.may_include_group("anything", ""));

    let sites = scope(r#"{"all_sites":true}"#);
    assert!(
        !sites.needs_groups(),
        "no Group.Read.All needed without groups in scope"
    );
    assert!(!included(&sites, &group_drive(None)));
    assert_eq!(
        sites.verdict(&group_drive(Some(SITE_REF))),
        Verdict::Included("scope.all_sites".into())
    );
}

const SITE_REF: (&str, &str) = (
    "sim.sharepoint.com,3333,4444",
    "https://sim.sharepoint.com/sites/marketing",
);

#[test]
fn group_rules_match_the_name_or_the_mail() {
    let s = scope(r#"{"include":[{"group":"marketing*"}]}"#);
    assert!(s.needs_groups() && !s.needs_sites() && !s.needs_users());
    assert!(s.may_include_group("Marketing Team", ""));
    assert!(s.may_include_group("x", "marketing@contoso.com"));
    assert!(!s.may_include_group("Sales", "sales@contoso.com"));
    assert!(included(&s, &group_drive(None)));
    assert!(!included(&s, &library("Documents")));
    assert!(!included(&s, &onedrive()));

    let s = scope(r#"{"all_groups":true,"exclude":[{"group":"*@contoso.com"}]}"#);
    assert!(!included(&s, &group_drive(None)));
    // A site rule matches a group drive whose site is known.
    let s = scope(r#"{"all_groups":true,"exclude":[{"site":"*/sites/marketing"}]}"#);
    assert!(included(&s, &group_drive(None)));
    assert!(!included(&s, &group_drive(Some(SITE_REF))));
    let both = scope(r#"{"include":[{"group":"Marketing*","site":"*/marketing"}]}"#);
    assert!(both.needs_groups() && both.needs_sites());
    assert!(included(&both, &group_drive(Some(SITE_REF))));
    assert!(!included(&both, &group_drive(None)));
    // A rule without group does not make discovery list groups.
    let plain = scope(r#"{"include":[{"drive_name":"Documents"}]}"#);
    assert!(!plain.needs_groups() && plain.needs_sites() && plain.needs_users());
}

#[test]
fn group_and_user_in_one_rule_are_rejected() {
    let e = serde_json::from_str::<ScopeConfig>(r#"{"include":[{"group":"a","user":"b"}]}"#)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.1.contains("group and user"), "{e:?}");
    let r = ScopeRule {
        group: Some("Sales*".into()),
        ..ScopeRule::default()
    };
    assert_eq!(r.to_string(), r#"group="Sales*""#);
}
