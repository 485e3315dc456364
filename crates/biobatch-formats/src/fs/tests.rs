use super::*;

#[test]
fn atomic_write_replaces_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.txt");
    write_atomic(&p, |f| f.write_all(b"hello")).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    let err = write_atomic(&p, |f| {
        f.write_all(b"partial")?;
        Err(std::io::Error::other("boom"))
    });
    assert!(err.is_err());
    assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_uncommitted_file_leaves_nothing_and_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.txt");
    std::fs::write(&p, b"old").unwrap();
    {
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"new, unfinished").unwrap();
        assert!(is_temporary(
            &f.temp_path().file_name().unwrap().to_string_lossy()
        ));
    }
    assert_eq!(std::fs::read(&p).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_folder_is_replaced_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model");
    let a = AtomicDir::create(&target).unwrap();
    std::fs::write(a.path().join("one"), b"1").unwrap();
    a.commit().unwrap();
    let b = AtomicDir::create(&target).unwrap();
    std::fs::write(b.path().join("two"), b"2").unwrap();
    // Not committed: the first folder stays as it was.
    drop(b);
    assert!(target.join("one").is_file() && !target.join("two").exists());
    let c = AtomicDir::create(&target).unwrap();
    std::fs::write(c.path().join("two"), b"2").unwrap();
    c.commit().unwrap();
    assert!(!target.join("one").exists() && target.join("two").is_file());
    // Only the target is left: no temporaries, no old folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn commit_new_refuses_a_folder_with_content() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    std::fs::create_dir(&target).unwrap();
    let a = AtomicDir::create(&target).unwrap();
    std::fs::write(a.path().join("f"), b"x").unwrap();
    a.commit_new().unwrap();
    let b = AtomicDir::create(&target).unwrap();
    let e = b.commit_new().unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
    assert!(target.join("f").is_file());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn paths_from_files_stay_inside_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir_all(root.join("X")).unwrap();
    std::fs::write(root.join("X/a.npy"), b"x").unwrap();
    assert_eq!(confined(&root, "X/a.npy").unwrap(), root.join("X/a.npy"));
    assert_eq!(
        confined(&root, "./new.txt").unwrap(),
        root.join("./new.txt")
    );
    for bad in ["../outside.txt", "X/../../y", "/etc/passwd", ""] {
        let e = confined(&root, bad).unwrap_err().to_string();
        assert!(e.contains("must stay inside their folder"), "{bad}: {e}");
    }
    #[cfg(unix)]
    {
        std::fs::write(dir.path().join("secret.txt"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link")).unwrap();
        let e = confined(&root, "link").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }
}

#[cfg(unix)]
#[test]
fn only_regular_files_are_opened_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status();
    if ok.is_ok_and(|s| s.success()) {
        // Returns at once (no writer would ever unblock an open).
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
    assert!(open_regular(dir.path()).is_err());
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    assert!(open_regular(&dir.path().join("f")).is_ok());
}

#[test]
fn stale_temporaries_are_swept_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".x.parquet.bbtmp-abcdefgh");
    let fresh = dir.path().join(".y.bbtmp-12345678");
    let mine = dir.path().join("keep.txt");
    for p in [&stale, &fresh, &mine] {
        std::fs::write(p, b"x").unwrap();
    }
    let old = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
    File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(sweep_stale(dir.path(), STALE_AFTER), 1);
    assert!(!stale.exists() && fresh.exists() && mine.exists());
}
