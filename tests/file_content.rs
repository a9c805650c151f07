//! `FileContent` keys files and directory trees by what they hold.

use std::fs;

use memo::{CacheKey, FileContent, KeyHasher, key_of};

#[test]
fn a_file_keys_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    fs::write(&a, [1, 2, 3]).unwrap();
    fs::write(&b, [1, 2, 3]).unwrap();
    assert_eq!(key_of(&FileContent(&a)), key_of(&FileContent(&b)));

    let before = key_of(&FileContent(&a));
    fs::write(&a, [1, 2, 4]).unwrap();
    assert_ne!(before, key_of(&FileContent(&a)));
    assert_ne!(
        key_of(&FileContent(&a)),
        key_of(&a),
        "content is not the path"
    );
}

#[test]
fn missing_and_empty_files_differ() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.txt");
    let missing = key_of(&FileContent(&path));
    assert_eq!(
        missing,
        key_of(&FileContent(dir.path().join("other-missing")))
    );
    fs::write(&path, "").unwrap();
    let empty = key_of(&FileContent(&path));
    assert_ne!(missing, empty);
}

fn tree(root: &std::path::Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

#[test]
fn a_directory_keys_by_names_and_contents() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let files = [
        ("a.txt", "alpha"),
        ("sub/b.txt", "beta"),
        ("sub/deep/c", "gamma"),
    ];
    tree(one.path(), &files);
    tree(two.path(), &files);
    let key = |p: &std::path::Path| key_of(&FileContent(p));
    assert_eq!(key(one.path()), key(two.path()));

    fs::write(two.path().join("sub/deep/c"), "GAMMA").unwrap();
    assert_ne!(key(one.path()), key(two.path()), "a deep edit is seen");

    fs::write(two.path().join("sub/deep/c"), "gamma").unwrap();
    assert_eq!(key(one.path()), key(two.path()));
    fs::rename(two.path().join("a.txt"), two.path().join("z.txt")).unwrap();
    assert_ne!(
        key(one.path()),
        key(two.path()),
        "a rename inside the tree is seen"
    );

    fs::rename(two.path().join("z.txt"), two.path().join("a.txt")).unwrap();
    fs::create_dir(two.path().join("empty")).unwrap();
    assert_ne!(
        key(one.path()),
        key(two.path()),
        "a new empty directory is seen"
    );
}

#[test]
fn a_file_and_a_directory_differ() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, "").unwrap();
    let empty_dir = dir.path().join("d");
    fs::create_dir(&empty_dir).unwrap();
    assert_ne!(
        key_of(&FileContent(&file)),
        key_of(&FileContent(&empty_dir))
    );
}

#[test]
fn readable_inputs_are_cacheable() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("x", "1")]);
    let mut h = KeyHasher::new();
    FileContent(dir.path()).cache_key(&mut h);
    FileContent(dir.path().join("missing")).cache_key(&mut h);
    assert_eq!(h.uncacheable(), None);
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_makes_the_key_unusable() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::write(locked.join("secret"), "x").unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read_dir(&locked).is_ok() {
        // Running as root: permissions do not stop reads, so there is nothing to observe.
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let mut h = KeyHasher::new();
    FileContent(&locked).cache_key(&mut h);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    let reason = h.uncacheable().expect("an unreadable tree cannot be keyed");
    assert!(reason.contains("locked"), "{reason}");
}

#[cfg(unix)]
#[test]
fn a_link_cycle_makes_the_key_unusable() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let mut h = KeyHasher::new();
    FileContent(dir.path()).cache_key(&mut h);
    assert!(h.uncacheable().unwrap().contains("links back"));
}
