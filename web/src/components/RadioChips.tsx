// A radio group of chips that is one Tab stop: arrow keys move between the chips and
// choose (roving tabindex, as the WAI-ARIA radio group pattern asks).

import { useRef, type KeyboardEvent, type ReactNode } from "react";

export interface ChipOption {
  key: string;
  content: ReactNode;
  /** The chip's accessible name when its content is not enough. */
  ariaLabel?: string;
  title?: string;
}

interface Props {
  /** The group's accessible name. */
  label: string;
  options: ChipOption[];
  /** The checked chip; null when none is (e.g. a size typed by hand). */
  checked: string | null;
  onSelect: (key: string) => void;
  className?: string;
}

const NEXT: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

export function RadioChips({ label, options, checked, onSelect, className = "chips" }: Props) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const tabStop = Math.max(0, options.findIndex((o) => o.key === checked));

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const from = refs.current.findIndex((el) => el === e.target);
    if (from < 0 || options.length === 0) return;
    let to: number;
    if (e.key in NEXT) to = (from + NEXT[e.key] + options.length) % options.length;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = options.length - 1;
    else return;
    e.preventDefault();
    refs.current[to]?.focus();
    onSelect(options[to].key);
  };

  return (
    <div className={className} role="radiogroup" aria-label={label} onKeyDown={onKeyDown}>
      {options.map((option, i) => {
        const selected = option.key === checked;
        return (
          <button
            key={option.key}
            ref={(el) => {
              refs.current[i] = el;
            }}
            type="button"
            role="radio"
            aria-checked={selected}
            tabIndex={i === tabStop ? 0 : -1}
            className={`chip${selected ? " selected" : ""}`}
            aria-label={option.ariaLabel}
            title={option.title}
            onClick={() => onSelect(option.key)}
          >
            {option.content}
          </button>
        );
      })}
    </div>
  );
}
