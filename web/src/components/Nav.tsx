import { useRoute, type View } from "../stores/route";
import { Icon, type IconName } from "./Icon";

const ENTRIES: { view: View; label: string; icon: IconName }[] = [
  { view: "studio", label: "Studio", icon: "studio" },
  { view: "queue", label: "Queue", icon: "queue" },
  { view: "loras", label: "LoRAs", icon: "loras" },
  { view: "models", label: "Models", icon: "models" },
  { view: "cluster", label: "Cluster", icon: "cluster" },
];

/** The five views: a slim rail on the left on desktop, a bottom tab bar on phones (CSS decides). */
export function Nav({ queueBadge }: { queueBadge: number }) {
  const view = useRoute((s) => s.view);
  const navigate = useRoute((s) => s.navigate);
  return (
    <nav className="nav" aria-label="Main">
      <ul>
        {ENTRIES.map((entry) => (
          <li key={entry.view}>
            <a
              href={entry.view === "studio" ? "/" : `/${entry.view}`}
              aria-current={view === entry.view ? "page" : undefined}
              onClick={(e) => {
                if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                e.preventDefault();
                navigate(entry.view);
              }}
            >
              <span className="nav-icon">
                <Icon name={entry.icon} size={22} />
                {entry.view === "queue" && queueBadge > 0 && (
                  <span className="nav-badge" aria-label={`${queueBadge} active`}>
                    {queueBadge > 99 ? "99+" : queueBadge}
                  </span>
                )}
              </span>
              <span className="nav-label">{entry.label}</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
