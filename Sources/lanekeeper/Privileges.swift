import CPrivileges
import Foundation
import SystemCalls

/// Which capabilities capturing needs, which this process lacks, and how `watch` gives up
/// everything once its captures and output files are open.
///
/// The drop, in order: `PR_SET_NO_NEW_PRIVS` (no exec can gain privileges again: COMMAND,
/// run afterwards, cannot use sudo or a setuid binary either); every capability out of the
/// bounding set (when the process may: it has CAP_SETPCAP); the ambient set cleared; then,
/// when the user changes, `setgroups` to the new user's primary group only, `setresgid`,
/// `setresuid` (leaving uid 0 clears the permitted and effective sets); finally the
/// effective, permitted and inheritable sets are emptied with `capset`. It is then checked
/// in /proc/self/status, for every thread; a drop that did not take ends the watch (exit 77)
/// before any packet is read.
enum Privileges {
    static let netAdmin = 12
    static let netRaw = 13

    /// The user a watch started as root becomes, when --user is not given.
    static let defaultUser = "nobody"

    /// The effective capability set from /proc/self/status, if it can be read.
    static func effective() -> UInt64? {
        status()["CapEff"].flatMap { UInt64($0, radix: 16) }
    }

    /// /proc/self/status (or a task's) as name -> value.
    static func status(of path: String = "/proc/self/status") -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    static func explanation() -> String {
        let tool = CommandLine.arguments.first ?? "lanekeeper"
        let grant = "run it as root, or grant the capability: setcap cap_net_raw+ep \(tool)"
        guard let capabilities = effective() else { return "capturing needs the CAP_NET_RAW capability; \(grant)" }
        if capabilities & (1 << UInt64(netRaw)) == 0 {
            return "capturing needs the CAP_NET_RAW capability, which this process does not have; \(grant)"
        }
        return "this process has CAP_NET_RAW but the kernel still refused (a user namespace, or a security module?)"
    }

    /// Why privileges could not be dropped, or the chosen user cannot be used.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Whom the process becomes.
    struct Target: Equatable {
        var name: String
        var uid: uid_t
        var gid: gid_t
        /// False when the process keeps its user (it was not started as root) and only
        /// gives up its capabilities.
        var changesUser: Bool
    }

    /// The user to become: `user` (a name or a number) or `defaultUser` when started as
    /// root; the starting user otherwise (only root may name another).
    static func target(user: String?) throws(Failure) -> Target {
        let uid = geteuid()
        guard uid == 0 else {
            let name = userName(uid)
            if let user, user != name, user != String(uid) {
                throw Failure(description: "--user \(user): only a watch started as root can become another user")
            }
            return Target(name: name, uid: uid, gid: getegid(), changesUser: false)
        }
        let name = user ?? defaultUser
        guard let entry = getpwnam(name) ?? UInt32(name).flatMap({ getpwuid($0) }) else {
            throw Failure(
                description: "--user \(name): no such user on this host; name an unprivileged user for the watch "
                    + "to run as once its captures are open")
        }
        let target = Target(
            name: String(cString: entry.pointee.pw_name), uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid,
            changesUser: true)
        if target.uid == 0 || target.gid == 0 {
            throw Failure(
                description: "--user \(name): that is root (uid or gid 0); name an unprivileged user, e.g. \(defaultUser)")
        }
        return target
    }

    /// Checks that `target` may create and rename files in the directory of each path, which
    /// it must to finish the report and the evidence file after the drop.
    static func requireWritable(_ paths: [String?], by target: Target) throws(Failure) {
        guard target.changesUser else { return }
        for path in paths.compactMap({ $0 }) {
            var status = stat()
            // A device or FIFO (e.g. /dev/stdout) is written in place, opened before the drop.
            if lstat(path, &status) == 0 && ![S_IFREG, S_IFLNK].contains(status.st_mode & S_IFMT) { continue }
            let slash = path.lastIndex(of: "/")
            let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
            guard stat(directory, &status) == 0 else { continue }  // creating it will say why
            let bits: mode_t =
                status.st_uid == target.uid ? 0o300 : (status.st_gid == target.gid ? 0o030 : 0o003)
            if status.st_mode & bits != bits {
                throw Failure(
                    description: "\(directory): \(target.name), the user this watch runs as once its captures are open, "
                        + "cannot write in it (to put \(path) in place); choose a directory \(target.name) may write in, "
                        + "or another user with --user")
            }
            // In a sticky directory (/tmp) only a file's owner may replace it (--force).
            var existing = stat()
            if status.st_mode & S_ISVTX != 0 && status.st_uid != target.uid && lstat(path, &existing) == 0
                && existing.st_uid != target.uid
            {
                throw Failure(
                    description: "\(path) belongs to another user and \(directory) is sticky, so \(target.name), the user "
                        + "this watch runs as once its captures are open, cannot replace it; remove it first or write elsewhere")
            }
        }
    }

    /// The first of the two steps: before the capture process parses the policy, it becomes
    /// `target` keeping only CAP_NET_RAW (which opening the captures needs): the bounding set
    /// emptied (when it may), ambient cleared, then with
    /// `PR_SET_KEEPCAPS` the user and groups changed, and CAP_NET_RAW alone left effective and
    /// permitted (when it had it). `drop(to:)` then gives up CAP_NET_RAW too.
    static func narrow(to target: Target) throws(Failure) {
        // All of the bounding set, CAP_NET_RAW too: it only limits what an exec could gain,
        // and this process keeps the CAP_NET_RAW it has until `drop(to:)`.
        try emptyBoundingSetAndAmbient()
        let keep = (permitted() ?? 0) & (1 << UInt64(netRaw))
        if target.changesUser {
            guard lk_prctl(PR_SET_KEEPCAPS, 1) == 0 else { throw failure("prctl(PR_SET_KEEPCAPS)") }
            try become(target)
            _ = lk_prctl(PR_SET_KEEPCAPS, 0)
        }
        guard lk_set_capabilities(keep, keep, 0) == 0 else { throw failure("capset(CAP_NET_RAW)") }
    }

    /// Empties the bounding set (when this process may: it has CAP_SETPCAP) and the ambient set.
    private static func emptyBoundingSetAndAmbient() throws(Failure) {
        let last = lastCapability()
        let mayChangeBounding = (effective() ?? 0) & (1 << 8) != 0  // CAP_SETPCAP
        if mayChangeBounding {
            for capability in 0...last where lk_prctl(PR_CAPBSET_DROP, UInt(capability)) != 0 && errno != EINVAL {
                throw failure("prctl(PR_CAPBSET_DROP, \(capability))")
            }
        }
        guard lk_clear_ambient() == 0 || errno == EINVAL else { throw failure("prctl(PR_CAP_AMBIENT_CLEAR_ALL)") }
    }

    /// `setgroups` to the target's group only, `setresgid`, `setresuid` (every thread).
    private static func become(_ target: Target) throws(Failure) {
        var groups = [target.gid]
        guard setgroups(1, &groups) == 0 else { throw failure("setgroups") }
        guard lk_setresgid(target.gid) == 0 else { throw failure("setresgid(\(target.gid))") }
        guard lk_setresuid(target.uid) == 0 else { throw failure("setresuid(\(target.uid))") }
    }

    /// The permitted capability set from /proc/self/status, if it can be read.
    static func permitted() -> UInt64? {
        status()["CapPrm"].flatMap { UInt64($0, radix: 16) }
    }

    static func lastCapability() -> Int {
        (try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 40
    }

    /// Drops to `target` and checks that it took (see the type's description). After
    /// `narrow(to:)` the user has changed already and only CAP_NET_RAW is left to give up.
    static func drop(to target: Target) throws(Failure) {
        guard lk_prctl(PR_SET_NO_NEW_PRIVS, 1) == 0 else { throw failure("prctl(PR_SET_NO_NEW_PRIVS)") }
        try emptyBoundingSetAndAmbient()
        if target.changesUser && (getuid() != target.uid || geteuid() != target.uid) { try become(target) }
        guard lk_clear_capabilities() == 0 else { throw failure("capset") }
        try verify(target)
    }

    /// Checks every thread's credentials in /proc: no capability in any set, no new
    /// privileges, and (when it changed) the target's user and group in every slot.
    static func verify(_ target: Target) throws(Failure) {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks.isEmpty ? ["self"] : tasks {
            let path = task == "self" ? "/proc/self/status" : "/proc/self/task/\(task)/status"
            let fields = status(of: path)
            for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] where fields[set].flatMap({ UInt64($0, radix: 16) }) != 0 {
                throw Failure(description: "after dropping privileges, thread \(task) still has \(set) \(fields[set] ?? "?")")
            }
            if fields["NoNewPrivs"] != "1" {
                throw Failure(description: "after dropping privileges, thread \(task) lacks no_new_privs")
            }
            let ids: [(String, UInt32)] = [("Uid", target.uid), ("Gid", target.gid)]
            for (name, id) in ids {
                let values = (fields[name] ?? "").split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
                if values.count != 4 || values.contains(where: { $0 != id }) {
                    throw Failure(
                        description: "after dropping privileges, thread \(task) has \(name) \(fields[name] ?? "?"), not \(id)")
                }
            }
        }
        if target.changesUser && (setuid(0) == 0 || seteuid(0) == 0) {
            throw Failure(description: "after dropping privileges, the process could become root again")
        }
    }

    /// The name of user `uid` (its number when it has none).
    static func userName(_ uid: uid_t) -> String {
        getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
    }

    /// Gives up every capability this process holds (ambient, effective, permitted,
    /// inheritable) without changing its user: `watch`'s supervisor, started without root but
    /// with capabilities, once its capture process has them. Best effort: what the kernel
    /// refuses stays as it was.
    static func dropCapabilities() {
        _ = lk_clear_ambient()
        _ = lk_clear_capabilities()
    }

    private static func failure(_ call: String) -> Failure {
        Failure(description: "cannot drop privileges: \(call) failed: \(Errno.current.description)")
    }
}
