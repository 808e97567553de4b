# tcprelay serve in a container.
#   docker build -t tcprelay .
#   docker run -e TCPRELAY_SECRET=… -p 8080-8181:8080-8181 --stop-timeout 45 tcprelay
# Listening on 0.0.0.0 without a shared secret is refused, so give TCPRELAY_SECRET, or mount a file
# and point TCPRELAY_SECRET_FILE (or --secret-file) at it. Arguments after the image name are
# appended to `serve`, e.g. --config /etc/tcprelay/relay.hocon. The image is linux-x64: on another
# host, build and run it with --platform linux/amd64.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first: the restore layer is reused until a dependency changes, not on every edit.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/TcpRelay.Protocol/TcpRelay.Protocol.csproj src/TcpRelay.Protocol/
COPY src/TcpRelay.Client/TcpRelay.Client.csproj src/TcpRelay.Client/
COPY src/TcpRelay.Server/TcpRelay.Server.csproj src/TcpRelay.Server/
COPY src/TcpRelay/TcpRelay.csproj src/TcpRelay/
# The profile sets the runtime identifier, so the restore must see it to fetch the runtime packs.
COPY src/TcpRelay/Properties/PublishProfiles/ src/TcpRelay/Properties/PublishProfiles/
RUN dotnet restore src/TcpRelay/TcpRelay.csproj -p:PublishProfile=linux-x64
# hocon/*.hocon are embedded in the assemblies at build time: serve reads its defaults from there.
COPY hocon/ hocon/
COPY src/TcpRelay.Protocol/ src/TcpRelay.Protocol/
COPY src/TcpRelay.Client/ src/TcpRelay.Client/
COPY src/TcpRelay.Server/ src/TcpRelay.Server/
COPY src/TcpRelay/ src/TcpRelay/
# The download's profile (README, "Without the SDK"): one self-contained file, so the image needs no
# .NET, only the libraries the runtime links against.
RUN dotnet publish src/TcpRelay -p:PublishProfile=linux-x64 -o /app --no-restore

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
WORKDIR /app
COPY --from=build /app/tcprelay ./
# The image's unprivileged `app` user; every port the relay uses is above 1024.
RUN install -d -o "$APP_UID" /var/lib/tcprelay
USER $APP_UID
# Registrations outlive a restart of the container (state-dir = auto finds STATE_DIRECTORY); mount a
# volume here (`-v tcprelay-state:/var/lib/tcprelay`) to keep them across a new container too.
ENV STATE_DIRECTORY=/var/lib/tcprelay
# control 8080, the public range 8081-8180 handed to apps, data 8181. Publish them under the same numbers: the relay tells
# apps their public port and data port as it sees them.
EXPOSE 8080-8181
# Docker's default stop signal is SIGTERM, which starts the drain; allow it drain-timeout (30s) plus
# a margin with `docker run --stop-timeout 45` or `docker stop -t 45`.
ENTRYPOINT ["/app/tcprelay", "serve", "--bind", "0.0.0.0"]
