import ArgumentParser
import Audit
import CloudStack
import Dispatch
import Foundation
import Synchronization

/// How to reach a CloudStack management server: `policy init`, `audit` and `policy hosts`
/// share them; the API key and secret come from CLOUDSTACK_KEY and CLOUDSTACK_SECRET.
struct CloudStackConnectionOptions: ParsableArguments {
    @Option(name: .customLong("cloudstack-url"), help: ArgumentHelp(
        "The CloudStack management server's API (https://HOST:8443/client/api; a URL without a path gets /client/api). "
            + "The API key and secret come from CLOUDSTACK_KEY and CLOUDSTACK_SECRET.", valueName: "URL"))
    var url: String?

    @Option(name: .customLong("cloudstack-ca"), help: ArgumentHelp(
        "Verify the management server's TLS certificate against the CA certificates of this PEM file instead of the "
            + "system's.", valueName: "FILE"))
    var caFile: String?

    @Option(name: .customLong("cloudstack-timeout"), help: ArgumentHelp(
        "Seconds to wait for the management server to connect and to answer each call.", valueName: "SECONDS"))
    var timeout: Int = 30

    func validate() throws {
        if url == nil, caFile != nil { throw ValidationError("--cloudstack-ca needs --cloudstack-url") }
        guard (1...3600).contains(timeout) else { throw ValidationError("--cloudstack-timeout must be 1 to 3600 seconds") }
    }

    /// `work` with a client of the server at `url`, shut down after; exits 69 (unreachable,
    /// TLS), 77 (key refused), 65 (an answer not as documented), 64 (no key in the environment,
    /// what `work` finds missing), 66 (no CA file), each message naming the call.
    func withClient<T: Sendable>(url: String, _ work: @escaping @Sendable (CloudStackClient) async throws(CloudStackError) -> T) throws -> T {
        if let caFile, !FileManager.default.fileExists(atPath: caFile) {
            printError("\(caFile): no such file (--cloudstack-ca)")
            throw ExitCode(ExitStatus.noInput)
        }
        let seconds = timeout
        let ca = caFile
        let result: Result<T, CloudStackError> = waitFor {
            do throws(CloudStackError) {
                let credentials = try CloudStackCredentials.fromEnvironment()
                let client = try CloudStackClient(url: url, credentials: credentials, caFile: ca, timeout: .seconds(seconds))
                do throws(CloudStackError) {
                    let value = try await work(client)
                    await client.shutdown()
                    return .success(value)
                } catch {
                    await client.shutdown()
                    return .failure(error)
                }
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .success(value): return value
        case let .failure(error):
            printError(error.description)
            throw ExitCode(error.exitStatus)
        }
    }
}

/// The options `policy init` and `audit` share to ask a CloudStack management server about
/// this host: how to reach it, and which host this is.
struct CloudStackOptions: ParsableArguments {
    @OptionGroup var connection: CloudStackConnectionOptions

    @Option(name: .customLong("cloudstack-host"), help: ArgumentHelp(
        "This host's name or id in CloudStack (default: the Routing host whose ipaddress is an address of this machine).",
        valueName: "NAME|ID"))
    var host: String?

    var url: String? { connection.url }

    func validate() throws {
        if url == nil, host != nil { throw ValidationError("--cloudstack-host needs --cloudstack-url") }
    }

    /// What the management server says about this host (nil without --cloudstack-url); exits
    /// as `CloudStackConnectionOptions.withClient` says (64 also for no such host).
    func input(localAddresses: [String]) throws -> ManagementServerInput? {
        guard let url else { return nil }
        let selector = host
        let view = try connection.withClient(url: url) { client async throws(CloudStackError) in
            try await client.view(host: selector, localAddresses: localAddresses)
        }
        return ManagementServerInput(view: view, resolver: .system)
    }
}

/// Runs `work` on the concurrency pool and waits for it: the bridge from the synchronous
/// commands to the asynchronous HTTP client (called from the main thread, never from a task).
func waitFor<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let value = await work()
        box.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return box.withLock { $0! }
}
